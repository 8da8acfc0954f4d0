//! `devflow creds`: the admin login `up` created. The password is printed only here, on request.

use anyhow::{Result, bail};

use crate::cli::JsonFlag;
use crate::config::Flags;
use crate::env::Env;
use crate::session::{Follow, Session};
use crate::ui::Printer;

pub fn run(args: &JsonFlag, env: &Env, printer: &mut Printer) -> Result<()> {
    let target = Session::open(env, &Flags::default(), Follow::Made, printer)?;
    let Some(password) = target.store.read_secrets()?.and_then(|s| s.admin_password().map(str::to_string)) else {
        bail!(
            "the project `{}` has no credentials yet\n  `devflow up` creates the admin user and its password",
            target.plan.project
        );
    };
    let user = target.plan.admin_user;
    // The one output of devflow's that shows a secret: printing it is this command's job.
    let creds = serde_json::json!({"project": target.plan.project, "url": target.plan.url, "username": user, "password": password});
    printer.set_mode(super::json_mode(args.json));
    printer.result(&creds, |_| format!("url       {}\nusername  {user}\npassword  {password}", target.plan.url))?;
    Ok(())
}
