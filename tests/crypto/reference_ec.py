"""Pure-Python secp256k1 affine arithmetic, used only to cross-check the library in tests."""

from __future__ import annotations

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)

RefPoint = tuple[int, int] | None


def add(a: RefPoint, b: RefPoint) -> RefPoint:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and a[1] != b[1]:
        return None
    if a == b:
        lam = 3 * a[0] * a[0] * pow(2 * a[1], P - 2, P) % P
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], P - 2, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return x, (lam * (a[0] - x) - a[1]) % P


def mul(point: RefPoint, k: int) -> RefPoint:
    result: RefPoint = None
    k %= N
    while k:
        if k & 1:
            result = add(result, point)
        point = add(point, point)
        k >>= 1
    return result


def neg(point: RefPoint) -> RefPoint:
    return None if point is None else (point[0], (-point[1]) % P)


def compress(point: RefPoint) -> bytes:
    if point is None:
        return bytes(33)
    return bytes((2 + (point[1] & 1),)) + point[0].to_bytes(32, "big")


def lift_x(x: int) -> RefPoint:
    if x >= P:
        return None
    y_sq = (pow(x, 3, P) + 7) % P
    y = pow(y_sq, (P + 1) // 4, P)
    if y * y % P != y_sq:
        return None
    return x, y if y % 2 == 0 else P - y
