//! The plan is the program: the commands `up` runs are exactly the ones `up --dry-run` printed,
//! in the same order and with the same standard input, on kind, k3d and an existing cluster.
//! Besides them, `up` only asks the tools questions that change nothing (their versions, the
//! clusters kind and k3d know, the release's status), to see what is there before each step.

use crate::existing::Shared;
use crate::lifecycle::Lab;
use crate::support::{Expect, Output};
use crate::world::Call;

/// The read-only questions `up` asks before a step: tool and first words.
const QUESTIONS: [&[&str]; 7] = [
    &["helm", "version"],
    &["helm", "status"],
    &["helm", "list"],
    &["kind", "version"],
    &["kind", "get", "clusters"],
    &["k3d", "version"],
    &["k3d", "cluster", "list"],
];

/// One command of the dry run: its argv, and whether it reads the cluster config on stdin.
#[derive(Debug, PartialEq)]
struct Planned {
    argv: Vec<String>,
    reads_cluster_config: bool,
}

/// The `$ …` commands of `up --dry-run`, in order.
fn planned(dry_run: &Output) -> Vec<Planned> {
    dry_run
        .raw_stdout()
        .lines()
        .filter_map(|line| line.split_once("  $ ").map(|(_, command)| command))
        .map(|command| {
            let (words, stdin) = match command.split_once(" < ") {
                Some((words, stdin)) => (words, Some(stdin)),
                None => (command, None),
            };
            assert!(!words.contains('\''), "a quoted word, which this test does not parse: {words}");
            if let Some(stdin) = stdin {
                assert_eq!(stdin, "the cluster config (devflow render --only cluster)");
            }
            Planned { argv: words.split(' ').map(str::to_string).collect(), reads_cluster_config: stdin.is_some() }
        })
        .collect()
}

fn is_question(call: &Call) -> bool {
    QUESTIONS
        .iter()
        .any(|q| q[0] == call.tool && call.argv.starts_with(&q[1..].iter().map(|w| w.to_string()).collect::<Vec<_>>()))
}

/// Runs `up --dry-run`, then `up`, and holds what ran against what was printed.
fn assert_up_runs_its_plan(run: impl Fn(&[&str]) -> Output, log: impl Fn() -> Vec<Call>) {
    let dry_run = run(&["up", "--dry-run"]);
    assert!(log().is_empty(), "the dry run ran nothing");
    let plan = planned(&dry_run);
    assert!(plan.iter().any(|p| p.argv[0] == "helm"), "{}", dry_run.stdout);
    let cluster_config = run(&["render", "--only", "cluster"]).raw_stdout().to_string();

    run(&["up", "--no-watch"]);
    let calls = log();
    let ran: Vec<&Call> = calls.iter().filter(|c| !is_question(c)).collect();
    let ran_argv: Vec<Vec<String>> =
        ran.iter().map(|c| std::iter::once(c.tool.clone()).chain(c.argv.iter().cloned()).collect()).collect();
    let planned_argv: Vec<Vec<String>> = plan.iter().map(|p| p.argv.clone()).collect();
    assert_eq!(ran_argv, planned_argv, "the commands `up` ran (besides questions) are the dry run's");
    for (planned, call) in plan.iter().zip(&ran) {
        if planned.reads_cluster_config {
            assert_eq!(call.stdin.as_deref(), Some(cluster_config.as_str()), "{:?} got the rendered config", call.argv);
        } else if let Some(at) = call.argv.iter().position(|a| a == "--config") {
            let file = std::fs::read_to_string(&call.argv[at + 1]).expect("the config file devflow wrote");
            assert_eq!(file, cluster_config, "{:?} read the rendered config", call.argv);
        }
    }
}

#[test]
fn up_runs_what_its_dry_run_prints_on_kind_and_k3d() {
    for provider in ["kind", "k3d"] {
        let Some(lab) = Lab::new(crate::test_name!(), provider) else { return };
        assert_up_runs_its_plan(|args| lab.devflow(args).status(0).run(), || lab.world.log());
        assert!(lab.calls(provider, &[]).iter().any(|c| c.argv.iter().any(|a| a == "create")), "a cluster was made");
        lab.devflow(&["down", "--yes"]).status(0).run();
    }
}

#[test]
fn up_runs_what_its_dry_run_prints_on_an_existing_cluster() {
    let Some(shared) = Shared::new(crate::test_name!()) else { return };
    assert_up_runs_its_plan(|args| shared.devflow(args).status(0).run(), || shared.lab.world.log());
    shared.devflow(&["down", "--yes"]).status(0).run();
}
