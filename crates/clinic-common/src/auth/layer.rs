use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use tonic::Status;

use super::{Access, Identity, Policy, TokenVerifier};
use crate::error::ApiError;

/// Tower layer that checks every RPC against the service's [`Policy`] before it reaches a handler,
/// and puts the verified [`Identity`] into the request extensions.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

struct AuthState {
    verifier: TokenVerifier,
    policy: Policy,
    domain: &'static str,
}

impl AuthLayer {
    /// `domain` is the service name used in the `ErrorInfo` of refusals.
    pub fn new(verifier: TokenVerifier, policy: Policy, domain: &'static str) -> Self {
        Self {
            state: Arc::new(AuthState {
                verifier,
                policy,
                domain,
            }),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
}

impl AuthState {
    /// `Ok(None)`: public RPC. `Ok(Some)`: authenticated and allowed.
    fn authorize(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Identity>, ApiError> {
        let roles = match self.policy.access(path) {
            None => {
                tracing::warn!(rpc = path, "RPC has no policy entry; refused");
                return Err(ApiError::forbidden("this RPC is not open to any caller"));
            }
            Some(Access::Public) => return Ok(None),
            Some(Access::Roles(roles)) => roles,
        };
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthenticated)?;
        let claims = self.verifier.verify(token.trim()).map_err(|e| {
            // The reason, never the token.
            tracing::info!(rpc = path, error = %e, "token refused");
            ApiError::unauthenticated()
        })?;
        if !roles.contains(&claims.role) {
            return Err(ApiError::forbidden(format!(
                "role {} may not call this RPC",
                claims.role
            )));
        }
        Ok(Some(Identity::from(claims)))
    }
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, Self::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.state.authorize(req.uri().path(), req.headers()) {
            Ok(identity) => {
                if let Some(identity) = identity {
                    req.extensions_mut().insert(identity);
                }
                Either::Right(self.inner.call(req))
            }
            Err(err) => {
                let status: Status = err.into_status(self.state.domain);
                Either::Left(ready(Ok(status.into_http())))
            }
        }
    }
}

/// The identity the auth layer verified. Handlers behind a `Roles` policy always have one.
pub fn identity<T>(req: &tonic::Request<T>) -> Result<&Identity, ApiError> {
    req.extensions()
        .get::<Identity>()
        .ok_or_else(ApiError::unauthenticated)
}
