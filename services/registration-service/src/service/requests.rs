use clinic_common::pagination::{Cursor, page};
use uuid::Uuid;

use super::AppState;
use crate::{
    db::requests,
    domain::{RegistrationRecord, RequestStatus},
    error::RegistrationError,
};

#[tracing::instrument(skip_all, fields(request_id = %id), err(level = "info"))]
pub async fn get(state: &AppState, id: Uuid) -> Result<RegistrationRecord, RegistrationError> {
    let mut conn = state.pool.acquire().await?;
    requests::get(&mut conn, id)
        .await?
        .ok_or(RegistrationError::RequestNotFound)
}

/// One page, oldest first, and the cursor of the next page when there is one.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn list(
    state: &AppState,
    status: Option<RequestStatus>,
    after: Option<Cursor>,
    page_size: i64,
) -> Result<(Vec<RegistrationRecord>, Option<Cursor>), RegistrationError> {
    let mut conn = state.pool.acquire().await?;
    let rows = requests::list(&mut conn, status, after, page_size + 1).await?;
    let (rows, next) = page(rows, page_size, |r| Cursor {
        at: r.created_at,
        id: r.id,
    });
    Ok((rows, next))
}
