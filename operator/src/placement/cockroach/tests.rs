use super::*;

fn row(pairs: &[(&str, &str)]) -> TextRow {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn show_regions_output_yields_the_regions_and_the_primary() {
    // As `SHOW REGIONS FROM DATABASE loyalty` prints it (CockroachDB 23.x/24.x).
    let rows = vec![
        row(&[
            ("database", "loyalty"),
            ("region", "aws-eu-central-1"),
            ("primary", "f"),
            ("secondary", "f"),
            ("zones", "{a,b,c}"),
        ]),
        row(&[
            ("database", "loyalty"),
            ("region", "aws-eu-west-1"),
            ("primary", "t"),
            ("secondary", "f"),
            ("zones", "{a,b,c}"),
        ]),
        row(&[
            ("database", "loyalty"),
            ("region", "aws-us-east-1"),
            ("primary", "f"),
            ("secondary", "f"),
            ("zones", "{a,b,c}"),
        ]),
    ];
    let (regions, primary) = parse_regions(&rows);
    assert_eq!(regions.len(), 3);
    assert_eq!(primary.as_deref(), Some("aws-eu-west-1"));
}

#[test]
fn a_database_that_is_not_multi_region_has_no_regions_and_no_primary() {
    assert_eq!(parse_regions(&[]), (BTreeSet::new(), None));
}

#[test]
fn show_super_regions_output_yields_each_group_and_its_regions() {
    let rows = vec![
        row(&[
            ("database_name", "loyalty"),
            ("super_region_name", "eu"),
            ("regions", "{aws-eu-central-1,aws-eu-west-1}"),
        ]),
        row(&[
            ("database_name", "loyalty"),
            ("super_region_name", "us"),
            ("regions", "{aws-us-east-1}"),
        ]),
    ];
    let parsed = parse_super_regions(&rows);
    assert_eq!(
        parsed["eu"],
        BTreeSet::from(["aws-eu-central-1".to_owned(), "aws-eu-west-1".to_owned()])
    );
    assert_eq!(parsed["us"].len(), 1);
}

#[test]
fn show_survival_goal_output_is_read_in_lower_case() {
    let rows = vec![row(&[("database", "loyalty"), ("survival_goal", "zone")])];
    assert_eq!(parse_survival_goal(&rows).as_deref(), Some("zone"));
    assert_eq!(parse_survival_goal(&[]), None);
}

const MEMBERS_CREATE: &str = "CREATE TABLE public.members (\n\
    \tid UUID NOT VISIBLE NOT NULL DEFAULT gen_random_uuid(),\n\
    \thome_region STRING NOT NULL,\n\
    \tcrdb_region public.crdb_internal_region NOT VISIBLE NOT NULL AS (CASE home_region WHEN 'eu-central-1':::STRING THEN 'aws-eu-central-1':::public.crdb_internal_region WHEN 'eu-west-1':::STRING THEN 'aws-eu-west-1':::public.crdb_internal_region END) STORED,\n\
    \tCONSTRAINT members_pkey PRIMARY KEY (id ASC)\n\
) LOCALITY REGIONAL BY ROW AS crdb_region";

#[test]
fn show_create_table_yields_the_locality_clause() {
    assert_eq!(
        table_locality(MEMBERS_CREATE).as_deref(),
        Some("REGIONAL BY ROW AS crdb_region")
    );
    assert_eq!(
        table_locality("CREATE TABLE public.regions (name STRING) LOCALITY GLOBAL").as_deref(),
        Some("GLOBAL")
    );
    assert_eq!(table_locality("CREATE TABLE public.t (a INT8)"), None);
}

fn plan_for(homes: &[(&str, &str)]) -> DatabasePlan {
    DatabasePlan {
        primary: "aws-eu-west-1".into(),
        regions: homes.iter().map(|(_, l)| (*l).to_owned()).collect(),
        super_regions: BTreeMap::new(),
        home_regions: homes
            .iter()
            .map(|(h, l)| ((*h).to_owned(), (*l).to_owned()))
            .collect(),
        survival_goal: SurvivalGoal::Zone,
    }
}

#[test]
fn a_region_column_computed_for_fewer_regions_is_reported_as_missing_them() {
    let two = plan_for(&[
        ("eu-central-1", "aws-eu-central-1"),
        ("eu-west-1", "aws-eu-west-1"),
    ]);
    assert!(missing_home_regions(MEMBERS_CREATE, &two).is_empty());
    let three = plan_for(&[
        ("eu-central-1", "aws-eu-central-1"),
        ("eu-west-1", "aws-eu-west-1"),
        ("us-east-1", "aws-us-east-1"),
    ]);
    assert_eq!(missing_home_regions(MEMBERS_CREATE, &three), ["us-east-1"]);
}

#[test]
fn identifiers_and_literals_are_quoted_against_injection() {
    assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    assert_eq!(literal("o'clock"), "'o''clock'");
}
