//! The accounts a race acts with: the center admin, the clinic admin, and N active patients —
//! existing ones signed in, missing ones registered, approved and activated from their e-mail.

use std::path::Path;

use clinic_proto::pb::registration::v1::{
    ActivateAccountRequest, ApproveRegistrationRequestRequest, LoginRequest, RegistrationStatus,
    SubmitRegistrationRequest,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::{CenterAdmin, mail};
use crate::{
    commands::Ctx,
    connect::{self, Registration, bearer},
    failure::Failure,
};

/// The center admin's token: signed in with `--admin-email`, else the cached one.
pub async fn center_admin(ctx: &Ctx, admin: &CenterAdmin) -> anyhow::Result<String> {
    match &admin.admin_email {
        Some(email) => {
            let password = admin
                .admin_password
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("--admin-email needs --admin-password"))?;
            connect::login(&mut ctx.registration().await?, email, password).await
        }
        None => ctx.token(),
    }
}

/// The clinic admin's password: its own flag, else the center admin's (`--admin-password`).
pub fn clinic_admin_password(own: Option<&str>, admin: &CenterAdmin) -> anyhow::Result<String> {
    own.or(admin.admin_password.as_deref())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the clinic admin's password: pass --clinic-admin-password"))
}

/// A registration request's fields for a synthetic person; `n` makes the insurance number unique.
pub fn person(email: &str, password: &str, n: u64) -> SubmitRegistrationRequest {
    SubmitRegistrationRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        first_name: "Race".into(),
        last_name: "Patient".into(),
        address: "Bulevar 1".into(),
        city: "Novi Sad".into(),
        country: "Serbia".into(),
        phone: "+381 21 123456".into(),
        insurance_number: format!("9{:011}", n % 100_000_000_000),
        request_id: Some(format!("clinicctl:{email}")),
    }
}

/// A stable number from an e-mail, for its insurance number.
fn number_of(email: &str) -> u64 {
    // FNV-1a: stable across runs and builds, unlike `DefaultHasher`.
    email.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Signs in patients `<prefix>1..=n@clinic.local`, creating the missing ones when `eml_dir` lets us
/// read their activation e-mail. Returns (e-mail, token, created) for each.
pub async fn patients(
    ctx: &Ctx,
    admin: &str,
    prefix: &str,
    password: &str,
    n: usize,
    eml_dir: Option<&Path>,
) -> anyhow::Result<Vec<(String, String, bool)>> {
    let reg = ctx.registration().await?;
    stream::iter(1..=n)
        .map(|i| {
            let email = format!("{prefix}{i}@clinic.local");
            let reg = reg.clone();
            async move {
                let (token, created) = patient(reg, admin, &email, password, eml_dir).await?;
                Ok::<_, anyhow::Error>((email, token, created))
            }
        })
        // Each sign-in is an argon2 verification on the server: a few at a time.
        .buffered(4)
        .try_collect()
        .await
}

/// One active patient's token, and whether this call created the account.
pub async fn patient(
    mut reg: Registration,
    admin: &str,
    email: &str,
    password: &str,
    eml_dir: Option<&Path>,
) -> anyhow::Result<(String, bool)> {
    let login = LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
    };
    let err = match reg.login(login.clone()).await {
        Ok(resp) => return Ok((resp.into_inner().access_token, false)),
        Err(s) => s,
    };
    let reason = Failure::from_status(&err).reason.unwrap_or_default();
    anyhow::ensure!(
        matches!(
            reason.as_str(),
            "INVALID_CREDENTIALS" | "ACCOUNT_NOT_ACTIVE"
        ),
        "sign in as {email}: {}",
        err.message()
    );
    let Some(dir) = eml_dir else {
        anyhow::bail!(
            "patient {email} cannot sign in ({reason}); pass --eml-dir with the notifier's EML_DIR so \
             missing patients can be registered and activated from their e-mail"
        )
    };
    let request = reg
        .submit_registration(person(email, password, number_of(email)))
        .await?
        .into_inner();
    if request.status() == RegistrationStatus::Pending {
        reg.approve_registration_request(bearer(
            admin,
            ApproveRegistrationRequestRequest {
                id: request.id.clone(),
                expected_version: Some(request.version),
            },
        ))
        .await?;
    }
    let token = mail::activation_token(dir, email).await?;
    if let Err(s) = reg.activate_account(ActivateAccountRequest { token }).await {
        // Activated by an earlier run that stopped before signing in.
        if Failure::from_status(&s).reason.as_deref() != Some("ACTIVATION_TOKEN_USED") {
            return Err(s.into());
        }
    }
    Ok((reg.login(login).await?.into_inner().access_token, true))
}
