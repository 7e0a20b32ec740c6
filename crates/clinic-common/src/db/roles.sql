-- One service's two PostgreSQL roles in the current database. Idempotent: a second run changes nothing
-- but the passwords, so it runs on every deploy. `clinic_common::db::roles::provision` runs it in one
-- transaction, as a role that may create roles (a superuser, or the database's owner with CREATEROLE),
-- after setting these parameters for that transaction only:
--   clinic_roles.schema                   the service's schema
--   clinic_roles.owner, .owner_verifier   the migration role: owns the schema, runs the migrations (DDL)
--   clinic_roles.app, .app_verifier       the runtime role: reads and writes the schema's rows, no DDL
--   clinic_roles.extensions               extensions the migrations need, comma-separated (creating one
--                                         needs rights on the database the migration role does not get)
-- A verifier is the SCRAM-SHA-256 verifier of the role's password, computed by the client: a clear
-- password is refused, since `ALTER ROLE` below pastes it into statement text that a failure repeats in
-- the error's CONTEXT and the server log. An empty verifier leaves the role without a password (trust
-- or certificate authentication).
DO $roles$
DECLARE
    schema_name text := current_setting('clinic_roles.schema');
    owner_role  text := current_setting('clinic_roles.owner');
    app_role    text := current_setting('clinic_roles.app');
    db          text := current_database();
    role_name   text;
    verifier    text;
    extension   text;
    obj         record;
BEGIN
    IF owner_role = app_role THEN
        RAISE EXCEPTION 'the migration and the runtime role must differ (both are %)', owner_role;
    END IF;
    IF current_user IN (owner_role, app_role) OR session_user IN (owner_role, app_role) THEN
        RAISE EXCEPTION 'role % is the one provisioning; connect as another role', current_user;
    END IF;
    -- Never demote or reuse a powerful role that happens to carry the name.
    SELECT rolname INTO role_name FROM pg_roles
    WHERE rolname IN (owner_role, app_role)
      AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls);
    IF FOUND THEN
        RAISE EXCEPTION 'role % exists with powers beyond its schema; pick another name', role_name;
    END IF;

    FOREACH role_name IN ARRAY ARRAY[owner_role, app_role] LOOP
        verifier := current_setting(CASE role_name WHEN owner_role THEN 'clinic_roles.owner_verifier'
                                                   ELSE 'clinic_roles.app_verifier' END);
        IF verifier <> '' AND verifier !~ '^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$' THEN
            -- Never the value itself: it may be a clear password.
            RAISE EXCEPTION 'the password of role % must be given as a SCRAM-SHA-256 verifier', role_name;
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('CREATE ROLE %I', role_name);
        END IF;
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %s', role_name,
                       CASE WHEN verifier = '' THEN 'NULL' ELSE quote_literal(verifier) END);
    END LOOP;

    -- A provisioning role that is not a superuser (a managed PostgreSQL's) acts for the owner below.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT %I TO %I', owner_role, current_user);
    END IF;

    -- The schema belongs to the migration role. One the service made before it had roles (as a
    -- superuser) is handed over with the tables, views, sequences and functions in it.
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = schema_name) THEN
        EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', schema_name, owner_role);
    ELSE
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', schema_name, owner_role);
        FOR obj IN
            SELECT c.oid::regclass AS name FROM pg_class c
            WHERE c.relnamespace = schema_name::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND c.relowner <> owner_role::regrole
              -- Not an extension's; not a sequence that follows its table's owner.
              AND NOT EXISTS (SELECT FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype IN ('e', 'a', 'i'))
        LOOP
            EXECUTE format('ALTER TABLE %s OWNER TO %I', obj.name, owner_role);
        END LOOP;
        FOR obj IN
            SELECT p.oid::regprocedure AS name FROM pg_proc p
            WHERE p.pronamespace = schema_name::regnamespace
              AND p.proowner <> owner_role::regrole
              AND NOT EXISTS (SELECT FROM pg_depend d
                              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        LOOP
            EXECUTE format('ALTER ROUTINE %s OWNER TO %I', obj.name, owner_role);
        END LOOP;
    END IF;
    FOREACH extension IN ARRAY string_to_array(current_setting('clinic_roles.extensions'), ',') LOOP
        EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I SCHEMA %I', extension, schema_name);
    END LOOP;

    -- Nobody else creates schemas or temporary tables in this database, or objects in `public`
    -- (PostgreSQL 15 already keeps `public` so; said again for older servers).
    EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', db);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I', db, owner_role, app_role);
    IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;

    -- The runtime role: rows of this schema's tables, its sequences and functions, now and as later
    -- migrations (run by the migration role) make them. Nothing in any other schema.
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', schema_name, app_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', schema_name, app_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', schema_name, app_role);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', schema_name, app_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', owner_role, schema_name, app_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
                   'GRANT USAGE, SELECT ON SEQUENCES TO %I', owner_role, schema_name, app_role);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
                   'GRANT EXECUTE ON FUNCTIONS TO %I', owner_role, schema_name, app_role);
    -- Functions the migration role makes are not everyone's to run (PostgreSQL's default).
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', owner_role);
    -- The migration history is the migration role's alone (`db::migrate` says so again after each run).
    IF to_regclass(format('%I._sqlx_migrations', schema_name)) IS NOT NULL THEN
        EXECUTE format('REVOKE ALL ON TABLE %I._sqlx_migrations FROM %I', schema_name, app_role);
    END IF;
END
$roles$;
