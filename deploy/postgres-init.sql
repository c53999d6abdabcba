-- Run once by the postgres image when its volume is new: a read-only role
-- for Grafana. callboard (the image's POSTGRES_USER) creates its tables
-- itself at start; Grafana may read them and nothing else.
CREATE ROLE grafana LOGIN PASSWORD 'grafana';
GRANT CONNECT ON DATABASE callboard TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE callboard IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
