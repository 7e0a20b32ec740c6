use sqlx::PgConnection;
use uuid::Uuid;

/// Marks the token used if it is unused and unexpired (a compare-and-swap, so it works once even when
/// two activations race). Returns the account it activates.
#[tracing::instrument(skip_all, err)]
pub async fn consume(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE activation_tokens SET used_at = now() \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING account_id",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// (used, expired) of a token that `consume` refused; `None` when unknown.
#[tracing::instrument(skip_all, err)]
pub async fn state(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<(bool, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT used_at IS NOT NULL, expires_at <= now() FROM activation_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}
