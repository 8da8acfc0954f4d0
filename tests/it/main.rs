//! devflow's one integration-test binary: it runs the real `devflow` as a user would.

mod bad_input;
mod bench;
mod cli;
mod day2;
mod existing;
mod fake_kube;
mod fakes_selftest;
mod incluster;
mod lifecycle;
mod parity;
mod plan_is_program;
mod real_airflow;
mod render;
mod run;
mod schemas;
mod support;
mod watch;
mod world;
