//! Diesel table definitions, written by hand so that one file describes both
//! `migrations/postgres` and `migrations/sqlite` (only portable SQL types are used).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        email_verified -> Bool,
        password_hash -> Nullable<Text>,
        display_name -> Nullable<Text>,
        disabled -> Bool,
        locked_until -> Nullable<BigInt>,
        failed_logins -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        signup_pending -> Bool,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        nickname -> Nullable<Text>,
        preferred_username -> Nullable<Text>,
        profile -> Nullable<Text>,
        picture -> Nullable<Text>,
        website -> Nullable<Text>,
        gender -> Nullable<Text>,
        birthdate -> Nullable<Text>,
        zoneinfo -> Nullable<Text>,
        locale -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        phone_number_verified -> Bool,
        address -> Nullable<Text>,
        ceiling_next_attempt_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    org_members (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        joined_at -> BigInt,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        org_id -> Nullable<Text>,
        name -> Text,
        description -> Text,
        parent_id -> Nullable<Text>,
        builtin -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    role_permissions (role_id, permission) {
        role_id -> Text,
        permission -> Text,
    }
}

diesel::table! {
    role_assignments (id) {
        id -> Text,
        role_id -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        org_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        granted_by -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Text,
        previous_secret_hash -> Nullable<Text>,
        previous_expires_at -> Nullable<BigInt>,
        owner_user_id -> Nullable<Text>,
        owner_client_id -> Nullable<Text>,
        role_id -> Text,
        org_id -> Nullable<Text>,
        allowed_cidrs -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        last_used_ip -> Nullable<Text>,
    }
}

diesel::table! {
    org_invitations (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        role_id -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        accepted_by -> Nullable<Text>,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        secret_hash -> Nullable<Text>,
        name -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        token_endpoint_auth_method -> Text,
        is_public -> Bool,
        allowed_scopes -> Text,
        skip_consent -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        id_token_signed_response_alg -> Text,
        subject_type -> Text,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        refresh_grace_secs -> BigInt,
        may_introspect_any -> Bool,
        registration_token_hash -> Nullable<Text>,
        require_mfa -> Bool,
        id_token_claims -> Text,
        org_id -> Nullable<Text>,
        org_signin -> Text,
        disabled -> Bool,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        auth_time -> BigInt,
        amr -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        sid -> Text,
    }
}

diesel::table! {
    one_time_tokens (token_hash) {
        token_hash -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        payload -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        id -> Text,
        occurred_at -> BigInt,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        generation -> BigInt,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        publish_at -> BigInt,
        activate_at -> BigInt,
        remove_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_requests (id_hash) {
        id_hash -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        source -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        claims -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Text,
        acr -> Nullable<Text>,
        sid -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        nonce -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    access_tokens (jti) {
        jti -> Text,
        grant_id -> Text,
        client_id -> Text,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    used_jtis (jti_hash) {
        jti_hash -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Integer,
        window_start -> BigInt,
        blocked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        secret_enc -> Text,
        pending_for -> Nullable<Text>,
        confirmed_at -> Nullable<BigInt>,
        last_step -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        credential -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    login_challenges (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        amr -> Text,
        return_to -> Text,
        request -> Nullable<Text>,
        failures -> Integer,
        created_at -> BigInt,
        expires_at -> BigInt,
        auth_time -> Nullable<BigInt>,
    }
}

diesel::table! {
    known_devices (user_id, device_hash) {
        user_id -> Text,
        device_hash -> Text,
        first_seen -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    login_sources (user_id, source) {
        user_id -> Text,
        source -> Text,
        failures -> Integer,
        locked_until -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    rate_counters (key) {
        key -> Text,
        hits -> Integer,
        window_start -> BigInt,
    }
}

diesel::table! {
    readiness_probe (id) {
        id -> Integer,
        probed_at -> BigInt,
    }
}

diesel::joinable!(org_members -> organizations (org_id));
diesel::joinable!(org_members -> users (user_id));
diesel::joinable!(role_permissions -> roles (role_id));
diesel::joinable!(role_assignments -> roles (role_id));
diesel::joinable!(api_keys -> roles (role_id));
diesel::joinable!(org_invitations -> organizations (org_id));
diesel::joinable!(authorization_codes -> grants (grant_id));
diesel::joinable!(access_tokens -> grants (grant_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));
diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(one_time_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    organizations,
    org_members,
    roles,
    role_permissions,
    role_assignments,
    api_keys,
    org_invitations,
    clients,
    sessions,
    one_time_tokens,
    audit_events,
    signing_keys,
    authorization_requests,
    consents,
    grants,
    authorization_codes,
    access_tokens,
    refresh_tokens,
    used_jtis,
    login_throttle,
    totp_credentials,
    recovery_codes,
    passkeys,
    webauthn_ceremonies,
    login_challenges,
    known_devices,
    login_sources,
    rate_counters,
    readiness_probe,
    mail_outbox,
);
