-- Least-privilege roles of the board database (issue 16): the owner runs the migrations; the API's role reads and
-- writes rows and nothing else (no DDL, no other database, not a superuser, so no pg_authid).
-- Run once by a superuser in the application database, by the chart's Postgres at initdb
-- (/docker-entrypoint-initdb.d) and by the lab (loadlab.services.Postgres). psql 15+: names and passwords come
-- from the environment (\getenv), never from the command line.
\set ON_ERROR_STOP on
\getenv owner LOADLAB_DB_OWNER
\getenv owner_password LOADLAB_DB_OWNER_PASSWORD
\getenv api LOADLAB_DB_USER
\getenv api_password LOADLAB_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'owner', :'owner_password')
\gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :'api', :'api_password')
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database())
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'api')
\gexec
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"api";
-- What the owner's migrations create, the API may read and write (rows only).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"api";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"api";
-- The Postgres exporter logs in as the owner (beside Postgres, in its pod): statistics of every session.
GRANT pg_monitor TO :"owner";
