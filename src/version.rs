//! Versions as devflow compares them: MAJOR.MINOR.PATCH, of Airflow and of the tools it runs.

pub type Version = (u32, u32, u32);

/// The first chart release for Airflow 3 (webserver → apiServer; FACTS.md).
pub const FIRST_AIRFLOW3_CHART: Version = (1, 19, 0);

/// `3.2.2` → (3, 2, 2); anything but three numbers is None.
pub fn parse(version: &str) -> Option<Version> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

/// The major version of an Airflow the chart runs (2.11 and later, 3.x), or None. `2.11` without
/// a patch counts, as the chart accepts it.
pub fn supported_airflow_major(version: &str) -> Option<u32> {
    let parts: Vec<u32> = version.split('.').map_while(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [2, minor, ..] if *minor >= 11 => Some(2),
        [3, _, ..] => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_three_numbers_and_the_chart_runs_2_11_and_3() {
        assert_eq!(parse("3.2.2"), Some((3, 2, 2)));
        assert_eq!(parse("3.2"), None);
        assert_eq!(parse("3.2.2.1"), None);
        assert_eq!(supported_airflow_major("2.11"), Some(2));
        assert_eq!(supported_airflow_major("2.10.5"), None);
        assert_eq!(supported_airflow_major("3.4.0"), Some(3));
    }
}
