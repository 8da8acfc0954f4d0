//! devflow's one integration-test binary: it runs the real `devflow` as a user would.

mod bad_input;
mod bench;
mod cli;
mod day2;
mod environments;
mod existing;
mod fake_docker;
mod fake_kube;
mod fakes_selftest;
mod host;
mod incluster;
mod lifecycle;
mod parity;
mod plan_is_program;
mod real_airflow;
mod recorded;
mod redaction;
mod render;
mod schemas;
mod standins;
mod support;
mod transient;
mod watch;
mod world;
