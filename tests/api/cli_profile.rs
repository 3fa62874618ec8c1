//! `portcullis user update|add` with the profile flags, and `client add --id-token-claims`,
//! run as the built binary. A refused value exits 2 naming its flag and changes nothing.

use serde_json::Value;

use crate::cli::{assert_exit, stdout, Cli};

fn add_alice(cli: &Cli) {
    let out = cli.run(&[
        "user",
        "add",
        "--username",
        "alice",
        "--email",
        "alice@example.com",
    ]);
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
}

#[test]
fn user_update_sets_and_clears_claims_and_prints_json() {
    let cli = Cli::new();
    add_alice(&cli);
    let updated = cli.json(&[
        "user",
        "update",
        "alice",
        "--name",
        "Ada Lovelace",
        "--given-name",
        "Ada",
        "--family-name",
        "Lovelace",
        "--middle-name",
        "King",
        "--nickname",
        "ada",
        "--preferred-username",
        "ada.l",
        "--profile",
        "https://people.example.com/ada",
        "--picture",
        "https://people.example.com/ada.png",
        "--website",
        "https://ada.example.com/",
        "--gender",
        "female",
        "--birthdate",
        "1815-12-10",
        "--zoneinfo",
        "Europe/London",
        "--locale",
        "en-gb",
        "--phone-number",
        "+44 20 7183 8750",
        "--phone-number-verified",
        "true",
        "--street-address",
        "12 St James's Square",
        "--locality",
        "London",
        "--region",
        "Greater London",
        "--postal-code",
        "SW1Y 4LB",
        "--country",
        "United Kingdom",
        "--address-formatted",
        "12 St James's Square, London SW1Y 4LB",
        "--email-verified",
        "true",
        "--json",
    ]);
    assert_eq!(updated["username"], "alice");
    assert_eq!(updated["name"], "Ada Lovelace");
    assert_eq!(updated["preferred_username"], "ada.l");
    assert_eq!(updated["locale"], "en-GB");
    assert_eq!(updated["phone_number"], "+442071838750");
    assert_eq!(updated["phone_number_verified"], true);
    assert_eq!(updated["email_verified"], true);
    assert_eq!(updated["address"]["postal_code"], "SW1Y 4LB");
    assert_eq!(
        updated["address"]["formatted"],
        "12 St James's Square, London SW1Y 4LB"
    );

    let cleared = cli.json(&[
        "user",
        "update",
        "alice",
        "--clear",
        "given_name",
        "--clear",
        "address",
        "--clear",
        "phone_number",
        "--email-verified",
        "false",
        "--json",
    ]);
    assert_eq!(cleared["given_name"], Value::Null);
    assert_eq!(cleared["address"], Value::Null);
    assert_eq!(cleared["phone_number"], Value::Null);
    assert_eq!(cleared["phone_number_verified"], false);
    assert_eq!(cleared["email_verified"], false);
    assert_eq!(cleared["family_name"], "Lovelace", "other claims stay");

    // A new number is unverified unless the same command says otherwise.
    cli.json(&[
        "user",
        "update",
        "alice",
        "--phone-number",
        "+12025550123",
        "--phone-number-verified",
        "true",
        "--json",
    ]);
    let out = cli.run(&["user", "update", "alice", "--phone-number", "+12025550124"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "updated the profile of alice");
    let now = cli.json(&["user", "update", "alice", "--nickname", "ada", "--json"]);
    assert_eq!(now["phone_number"], "+12025550124");
    assert_eq!(now["phone_number_verified"], false);
}

#[test]
fn bad_values_exit_2_naming_the_flag_and_change_nothing() {
    let cli = Cli::new();
    add_alice(&cli);
    cli.json(&[
        "user",
        "update",
        "alice",
        "--given-name",
        "Ada",
        "--locale",
        "en-GB",
        "--json",
    ]);
    for (flag, bad) in [
        ("--locale", "en_GB"),
        ("--zoneinfo", "Mars/Olympus_Mons"),
        ("--birthdate", "1990-02-30"),
        ("--birthdate", "90-01-01"),
        ("--phone-number", "555-0123"),
        ("--website", "http://ada.example.com/"),
        ("--picture", "ftp://example.com/a.png"),
        ("--profile", "https://user:pw@example.com/"),
        ("--nickname", "tab\there"),
        ("--country", "\u{202e}dnalgnE"),
    ] {
        // The good flag in the same command is not applied either.
        let out = cli.run(&[
            "user",
            "update",
            "alice",
            "--given-name",
            "Changed",
            flag,
            bad,
        ]);
        assert_exit(&out, 2, flag);
    }
    let out = cli.run(&["user", "update", "alice", "--clear", "password"]);
    assert_exit(&out, 2, "--clear");
    let out = cli.run(&[
        "user",
        "update",
        "alice",
        "--given-name",
        "X",
        "--clear",
        "given_name",
    ]);
    assert_exit(&out, 2, "--given-name");
    let out = cli.run(&[
        "user",
        "update",
        "alice",
        "--phone-number-verified",
        "maybe",
    ]);
    assert_exit(&out, 2, "--phone-number-verified");
    let out = cli.run(&["user", "update", "alice"]);
    assert_exit(&out, 2, "nothing to change");
    let out = cli.run(&["user", "update", "nobody", "--given-name", "X"]);
    assert_exit(&out, 2, "no such user");

    let now = cli.json(&["user", "update", "alice", "--nickname", "ada", "--json"]);
    assert_eq!(now["given_name"], "Ada");
    assert_eq!(now["locale"], "en-GB");
    assert_eq!(now["zoneinfo"], Value::Null);
    assert_eq!(now["phone_number"], Value::Null);
}

#[test]
fn user_add_takes_the_profile_flags() {
    let cli = Cli::new();
    let created = cli.json(&[
        "user",
        "add",
        "--username",
        "grace",
        "--email",
        "grace@example.com",
        "--name",
        "Grace Hopper",
        "--given-name",
        "Grace",
        "--zoneinfo",
        "America/New_York",
        "--email-verified",
        "true",
        "--json",
    ]);
    assert_eq!(created["username"], "grace");
    assert_eq!(created["display_name"], "Grace Hopper");
    assert_eq!(created["email_verified"], true);
    assert_eq!(created["profile"]["given_name"], "Grace");
    assert_eq!(created["profile"]["zoneinfo"], "America/New_York");

    // The old spelling still works.
    let out = cli.run(&[
        "user",
        "add",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--display-name",
        "Bob",
    ]);
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));

    let out = cli.run(&[
        "user",
        "add",
        "--username",
        "mallory",
        "--email",
        "mallory@example.com",
        "--zoneinfo",
        "Nowhere/Special",
    ]);
    assert_exit(&out, 2, "--zoneinfo");
    let names: Vec<Value> = cli
        .json(&["user", "list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(
        names,
        ["bob", "grace"],
        "a refused profile creates no account"
    );
}

#[test]
fn client_add_takes_the_id_token_claims_choice() {
    let cli = Cli::new();
    let add = |choice: &[&str]| -> Vec<String> {
        let mut args = vec![
            "client",
            "add",
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--json",
        ];
        args.extend(choice);
        args.into_iter().map(str::to_owned).collect()
    };
    let json = |choice: &[&str]| {
        let args = add(choice);
        cli.json(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let default = json(&[]);
    assert_eq!(default["id_token_claims"], "email");
    for s in ["address", "phone"] {
        assert!(
            default["allowed_scopes"]
                .as_array()
                .unwrap()
                .contains(&s.into()),
            "{s} is allowed by default"
        );
    }
    assert_eq!(
        json(&["--id-token-claims", "all"])["id_token_claims"],
        "all"
    );
    assert_eq!(
        json(&["--id-token-claims", "profile,phone"])["id_token_claims"],
        "profile phone"
    );
    let refused = add(&["--id-token-claims", "secrets"]);
    let out = cli.run(&refused.iter().map(String::as_str).collect::<Vec<_>>());
    assert_exit(&out, 2, "invalid ID token claims");
}
