//! `devflow creds`: the admin login `up` created. The password is printed only here, on request.

use anyhow::{Result, bail};

use super::lifecycle::Target;
use crate::cli::{JsonFlag, ProjectFlags};
use crate::ui::Printer;

pub fn run(args: &JsonFlag, printer: &mut Printer) -> Result<()> {
    let target = Target::load(&ProjectFlags::default(), &[], printer, true)?;
    let Some(password) = target.folder.read_secrets()?.and_then(|s| s.admin_password().map(str::to_string)) else {
        bail!(
            "the project `{}` has no credentials yet\n  `devflow up` creates the admin user and its password",
            target.plan.project
        );
    };
    let user = target.plan.admin_user;
    let text = if args.json {
        serde_json::json!({"url": target.plan.url, "username": user, "password": password}).to_string()
    } else {
        format!("url       {}\nusername  {user}\npassword  {password}", target.plan.url)
    };
    printer.out(&text)?;
    Ok(())
}
