//! devflow's one integration-test binary: it runs the real `devflow` as a user would.

mod bad_input;
mod cli;
mod parity;
mod render;
mod schemas;
mod support;
