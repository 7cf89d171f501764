DROP TABLE nip98_consumption_count;
DROP TABLE nip98_consumption;
