//! `clinicctl login` / `logout`: the cached access token. The password and the token are never
//! printed, the token only with `--print-token`.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use clinic_proto::pb::registration::v1::{LoginRequest, Role};

use super::Ctx;
use crate::{output, timestamps, token_cache};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// E-mail of the account.
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of stdin instead of prompting on the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Also print the access token on stdout (e.g. for `CLINIC_TOKEN=$(…)`); it is cached all the same.
    #[arg(long)]
    pub print_token: bool,
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<()> {
    let password = read_password(args.password_stdin, "Password: ")?;
    let mut client = ctx.registration().await?;
    let resp = client
        .login(LoginRequest {
            email: args.email.clone(),
            password,
        })
        .await?
        .into_inner();
    let path = token_cache::path()?;
    token_cache::save(&path, &resp.access_token)?;

    if args.print_token && !ctx.out.json {
        output::emit(&format!("{}\n", resp.access_token))?;
        return Ok(());
    }
    let role = Role::try_from(resp.role).unwrap_or(Role::Unspecified);
    let role = role.as_str_name().trim_start_matches("ROLE_");
    let until = resp
        .expires_at
        .as_ref()
        .map(timestamps::format)
        .unwrap_or_else(|| "?".to_owned());
    if ctx.out.json {
        let mut json = output::to_json(&resp);
        if !args.print_token {
            json["access_token"] = serde_json::Value::Null;
        }
        json["email"] = args.email.into();
        json["token_file"] = path.display().to_string().into();
        output::emit(&format!("{json:#}\n"))?;
    } else {
        output::emit(&format!(
            "signed in as {} ({role}) until {until}; token cached in {}\n",
            args.email,
            path.display()
        ))?;
    }
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    let path = token_cache::path()?;
    let said = if token_cache::remove(&path)? {
        format!("signed out: deleted {}\n", path.display())
    } else {
        format!("no cached token at {}\n", path.display())
    };
    output::emit(&said)?;
    Ok(())
}

/// Prompts without echo when stdin is a terminal (unless `from_stdin`), else reads stdin's first line.
pub fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if !from_stdin && stdin.is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    anyhow::ensure!(
        !password.is_empty(),
        "no password given (empty line on stdin?)"
    );
    Ok(password)
}
