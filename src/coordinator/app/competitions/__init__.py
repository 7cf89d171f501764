"""The competition lifecycle at run time: services, the processor, watchers and routes.

Everything here depends on the ports (``coordinator.domain.ports``) only; the concrete
adapters are built by :mod:`coordinator.app.composition` and handed in as a
:class:`~coordinator.app.competitions.context.Lifecycle`.
"""
