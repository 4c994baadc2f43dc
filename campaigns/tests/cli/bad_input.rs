//! Bad input, table-driven: every case exits 2 with a message that says what is wrong.

use crate::support::{arg, folder, marketing_campaigns, run};

const BOOKING: &str = "at=2026-07-04T10:00:00Z,product=hotel,amountMinor=100,currency=EUR";

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = folder(&[
        (
            "malformed.yaml",
            "kind: Campaign\nspec: [unclosed\n".to_owned(),
        ),
        ("bookings.yaml", "- at: yesterday\n".to_owned()),
    ]);
    let malformed = dir.path().join("malformed.yaml");
    let bookings = dir.path().join("bookings.yaml");
    let unreadable = dir.path().join("missing.yaml");
    let campaigns = marketing_campaigns();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["lint", arg(&malformed)],
            "malformed.yaml:3: malformed YAML",
        ),
        (
            vec!["lint", arg(&unreadable)],
            "missing.yaml: No such file or directory",
        ),
        (vec!["lint"], "required arguments were not provided"),
        (
            vec!["lint", "--format", "xml", arg(&campaigns)],
            "invalid value 'xml'",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
        (
            vec!["simulate", "--campaigns", arg(&campaigns)],
            "no booking",
        ),
        (
            vec![
                "simulate",
                "--campaigns",
                arg(&campaigns),
                "--booking",
                "product=hotel",
            ],
            "missing field `at`",
        ),
        (
            vec![
                "simulate",
                "--campaigns",
                arg(&campaigns),
                "--booking",
                "nonsense",
            ],
            "\"nonsense\" is not key=value",
        ),
        (
            vec![
                "simulate",
                "--campaigns",
                arg(&campaigns),
                "--bookings",
                arg(&bookings),
            ],
            "not a list of bookings",
        ),
        (
            vec![
                "simulate",
                "--campaigns",
                arg(&malformed),
                "--booking",
                BOOKING,
            ],
            "malformed YAML",
        ),
        (
            vec![
                "backtest",
                "--campaigns",
                arg(&campaigns),
                "--since",
                "a month",
                "--database",
                "postgres://x",
            ],
            "expected a number of days or hours",
        ),
        (
            vec![
                "backtest",
                "--campaigns",
                arg(&campaigns),
                "--database",
                "mysql://x",
            ],
            "--database",
        ),
        (
            vec![
                "backtest",
                "--campaigns",
                arg(&campaigns),
                "--database",
                "postgres://127.0.0.1:1/none",
            ],
            "connecting to the database",
        ),
    ];
    for (args, expected) in cases {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(expected),
            "{args:?}: expected {expected:?} in {}",
            out.stderr
        );
    }
}
