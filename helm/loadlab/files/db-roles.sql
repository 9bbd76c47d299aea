-- Least-privilege roles of the board database (issue 16): the owner runs the migrations; the API's role reads and
-- writes rows and nothing else (no DDL, no other database, not a superuser, so no pg_authid).
-- Run by a superuser in the application database: by the chart's Postgres at initdb (/docker-entrypoint-initdb.d),
-- by the chart's db-roles hook Job after every upgrade, and by the lab (loadlab.services.Postgres). Idempotent: a
-- second run changes nothing; on a database the roles already exist in, it resets their attributes and passwords,
-- hands whatever else owns the schema's tables to the owner, and grants the API what it needs on existing tables.
-- psql 15+: names and passwords come from the environment (\getenv), never from the command line.
\set ON_ERROR_STOP on
\getenv owner LOADLAB_DB_OWNER
\getenv owner_password LOADLAB_DB_OWNER_PASSWORD
\getenv api LOADLAB_DB_USER
\getenv api_password LOADLAB_DB_PASSWORD
-- Never on an install from before these roles, where the API's role is the cluster's bootstrap superuser (it would
-- lose SUPERUSER, maybe the last one): the chart's db-roles Job renames that role first.
SELECT count(*) > 0 AS bootstrap FROM pg_roles WHERE oid = 10 AND rolname IN (:'api', :'owner')
\gset
\if :bootstrap
DO $$ BEGIN RAISE EXCEPTION 'the API''s or the owner''s role is the bootstrap superuser: rename it first (templates/postgresql/db-roles-job.yaml)'; END $$;
\endif
SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L',
              CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') THEN 'ALTER' ELSE 'CREATE' END,
              :'owner', :'owner_password')
\gexec
SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L',
              CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :'api') THEN 'ALTER' ELSE 'CREATE' END,
              :'api', :'api_password')
\gexec
-- The API's role is a member of nothing (it could inherit or SET ROLE to its privileges otherwise).
SELECT format('REVOKE %I FROM %I', r.rolname, :'api')
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
 WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :'api')
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database())
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'api')
\gexec
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM :"api";
GRANT USAGE ON SCHEMA public TO :"api";
-- Tables, views and free-standing sequences someone else made (an install from before these roles, where the API's
-- role ran the migrations): the owner's now. ALTER TABLE also moves a table's indexes and its columns' sequences.
SELECT format('ALTER %s public.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
              c.relname, :'owner')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
\gexec
SELECT format('ALTER SEQUENCE public.%I OWNER TO %I', c.relname, :'owner')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
\gexec
-- Rows only, on what exists and on what the owner's migrations create later.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"api";
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM :"api";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"api";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"api";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"api";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"api";
-- The Postgres exporter logs in as the owner (beside Postgres, in its pod): statistics of every session.
GRANT pg_monitor TO :"owner";
