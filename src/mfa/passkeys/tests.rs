use super::*;

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(valid_name("  YubiKey 5  ").unwrap(), "YubiKey 5");
    assert_eq!(valid_name(&"é".repeat(64)).unwrap().chars().count(), 64);
    for bad in ["", "   ", "a\nb", "tab\there", "\u{7f}"] {
        assert!(
            matches!(valid_name(bad), Err(PasskeyError::InvalidName)),
            "{bad:?}"
        );
    }
    assert!(valid_name(&"x".repeat(65)).is_err());
}

#[test]
fn user_handles_are_stable_and_distinct() {
    assert_eq!(user_handle("abc"), user_handle("abc"));
    assert_ne!(user_handle("abc"), user_handle("abd"));
}

#[test]
fn the_relying_party_is_the_issuer_host() {
    assert!(Passkeys::new("https://id.example.com")
        .unwrap()
        .is_enabled());
    assert!(Passkeys::new("http://localhost:8080").unwrap().is_enabled());
    // Browsers refuse IP addresses as RP IDs.
    assert!(matches!(
        Passkeys::new("http://127.0.0.1:8080"),
        Err(PasskeyError::Unavailable)
    ));
}

#[test]
fn second_factor_state_converts_to_the_single_credential_form() {
    let passkeys = Passkeys::new("https://id.example.com").unwrap();
    let webauthn = passkeys.webauthn().unwrap();
    let (_, state) = webauthn.start_discoverable_authentication().unwrap();
    // No passkey exists to start a real second-factor ceremony without an
    // authenticator; the wrapper shape is what matters, and it is shared.
    let as_json = serde_json::to_value(&state).unwrap();
    let second: PasskeyAuthentication = serde_json::from_value(as_json).unwrap();
    as_single_credential_state(&second).unwrap();
}
