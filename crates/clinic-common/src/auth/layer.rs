use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready, ready};
use rustls_pki_types::CertificateDer;
use tonic::{
    Status,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};

use super::{Access, Identity, Policy, Role, TokenVerifier};
use crate::{error::ApiError, tls::certificate_names};

/// Tower layer that checks every RPC against the service's [`Policy`] before it reaches a handler,
/// and puts the verified [`Identity`] into the request extensions.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

#[derive(Clone)]
struct AuthState {
    verifier: TokenVerifier,
    policy: Policy,
    domain: &'static str,
    /// Mutual TLS is on: a service token counts only over a connection whose client certificate
    /// names that service.
    bind_service_tokens: bool,
}

/// The client certificate chain of the connection a request came on, if it presented one.
type PeerCertificates = Option<Arc<Vec<CertificateDer<'static>>>>;

impl AuthLayer {
    /// `domain` is the service name used in the `ErrorInfo` of refusals.
    pub fn new(verifier: TokenVerifier, policy: Policy, domain: &'static str) -> Self {
        Self {
            state: Arc::new(AuthState {
                verifier,
                policy,
                domain,
                bind_service_tokens: false,
            }),
        }
    }

    /// With mutual TLS on, a service token is honoured only over a connection whose verified
    /// client certificate names that service: a copied token is worth nothing without the key.
    pub fn bind_service_tokens_to_certificates(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.state).bind_service_tokens = on;
        self
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
    #[cfg(test)]
    fn authorize(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Option<Identity>, ApiError> {
        self.authorize_on(path, headers, &None)
    }

    /// [`Self::authorize`] of a call that came on a connection with the client certificates `peer`.
    fn authorize_on(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        peer: &PeerCertificates,
    ) -> Result<Option<Identity>, ApiError> {
        let access = match self.policy.access(path) {
            // A service this server does not host: what a server without the route answers. It
            // never reaches the routes, so a missing policy cannot open anything.
            None if !self.policy.hosts_service_of(path) => {
                return Err(ApiError::new(
                    tonic::Code::Unimplemented,
                    "UNIMPLEMENTED",
                    format!("this server does not serve {path}"),
                ));
            }
            None => {
                tracing::warn!(rpc = path, "RPC has no policy entry; refused");
                return Err(ApiError::forbidden("this RPC is not open to any caller"));
            }
            Some(Access::Public) => return Ok(None),
            Some(access) => access,
        };
        // The scheme is case-insensitive (RFC 9110); the token itself is not.
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(ApiError::unauthenticated)?;
        let claims = self.verifier.verify(token.trim()).map_err(|e| {
            // The reason, never the token.
            tracing::info!(rpc = path, error = %e, "token refused");
            ApiError::unauthenticated()
        })?;
        // A token for other services is not a credential here, whatever it says.
        if !claims.aud.iter().any(|a| a == self.domain) {
            tracing::info!(rpc = path, "token for another audience refused");
            return Err(ApiError::unauthenticated());
        }
        if !access.admits(claims.role, &claims.sub) {
            let who = match claims.role {
                Role::Service => claims.sub.clone(),
                person => format!("role {person}"),
            };
            return Err(ApiError::forbidden(format!("{who} may not call this RPC")));
        }
        if claims.role == Role::Service && self.bind_service_tokens {
            let leaf = peer.as_ref().and_then(|chain| chain.first());
            let name = claims.sub.strip_prefix("service:").unwrap_or_default();
            if !leaf.is_some_and(|leaf| certificate_names(leaf, name)) {
                tracing::warn!(
                    rpc = path,
                    service = %claims.sub,
                    "service token without that service's client certificate refused"
                );
                return Err(ApiError::new(
                    tonic::Code::Unauthenticated,
                    "TOKEN_INVALID",
                    "a service token is valid only with that service's client certificate",
                ));
            }
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
        let peer = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        match self
            .state
            .authorize_on(req.uri().path(), req.headers(), &peer)
        {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::{Role, TokenIssuer, generate_key_pair};

    fn state() -> (AuthState, TokenIssuer) {
        let (state, issuer, _) = state_and_keys();
        (state, issuer)
    }

    fn state_and_keys() -> (AuthState, TokenIssuer, crate::auth::KeyPair) {
        let pair = generate_key_pair().unwrap();
        const ADMINS: &[Role] = &[Role::ClinicCenterAdmin];
        let policy = Policy::new(&[
            ("/svc/Admin", Access::Roles(ADMINS)),
            ("/svc/Open", Access::Public),
            ("/svc/Internal", Access::Callers(ADMINS, &["caller"])),
        ]);
        let state = AuthState {
            verifier: TokenVerifier::from_pem(&pair.public_pem).unwrap(),
            policy,
            domain: "test",
            bind_service_tokens: false,
        };
        let issuer = TokenIssuer::from_pem(&pair.private_pem).unwrap();
        (state, issuer, pair)
    }

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    /// An inner service that is ready only once opened: the layer must pass its readiness through,
    /// or a caller would `call` an inner service that is not ready.
    struct Gate {
        open: bool,
    }

    impl tower::Service<http::Request<()>> for Gate {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.open {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            ready(Ok(http::Response::new(tonic::body::Body::empty())))
        }
    }

    #[test]
    fn the_layer_is_ready_when_the_inner_service_is() {
        let (state, _) = state();
        let layer = AuthLayer {
            state: Arc::new(state),
        };
        let mut svc = tower::Layer::layer(&layer, Gate { open: false });
        let mut cx = Context::from_waker(std::task::Waker::noop());

        assert!(tower::Service::poll_ready(&mut svc, &mut cx).is_pending());
        svc.inner.open = true;
        assert!(matches!(
            tower::Service::poll_ready(&mut svc, &mut cx),
            Poll::Ready(Ok(()))
        ));
    }

    #[test]
    fn policy_roles_and_token_checks() {
        let (state, issuer) = state();
        let admin = issuer
            .issue(
                "a1",
                Role::ClinicCenterAdmin,
                None,
                &["test"],
                Duration::from_secs(60),
            )
            .unwrap()
            .0;
        let patient = issuer
            .issue(
                "p1",
                Role::Patient,
                None,
                &["test"],
                Duration::from_secs(60),
            )
            .unwrap()
            .0;

        let who = state
            .authorize("/svc/Admin", &headers(&format!("bearer {admin}")))
            .unwrap()
            .unwrap();
        assert_eq!(
            (who.subject.as_str(), who.role),
            ("a1", Role::ClinicCenterAdmin)
        );
        assert_eq!(
            state
                .authorize("/svc/Open", &http::HeaderMap::new())
                .unwrap(),
            None
        );
        assert_eq!(
            state
                .authorize("/grpc.health.v1.Health/Check", &http::HeaderMap::new())
                .unwrap(),
            None
        );

        let refused =
            |path: &str, h: http::HeaderMap| state.authorize(path, &h).unwrap_err().reason;
        assert_eq!(
            refused("/svc/Admin", http::HeaderMap::new()),
            "TOKEN_INVALID"
        );
        assert_eq!(
            refused("/svc/Admin", headers(&format!("Basic {admin}"))),
            "TOKEN_INVALID"
        );
        assert_eq!(
            refused("/svc/Admin", headers(&format!("Bearer {admin}x"))),
            "TOKEN_INVALID"
        );
        assert_eq!(
            refused("/svc/Admin", headers(&format!("Bearer {patient}"))),
            "FORBIDDEN"
        );
        assert_eq!(
            refused("/svc/Unlisted", headers(&format!("Bearer {admin}"))),
            "FORBIDDEN"
        );
        // Another server's service: unimplemented here, whoever asks.
        for h in [http::HeaderMap::new(), headers(&format!("Bearer {admin}"))] {
            let err = state.authorize("/other/Admin", &h).unwrap_err();
            assert_eq!(
                (err.code, err.reason),
                (tonic::Code::Unimplemented, "UNIMPLEMENTED")
            );
        }
    }

    #[test]
    fn a_token_for_another_audience_or_without_one_is_no_credential_here() {
        let (state, issuer, pair) = state_and_keys();
        let admin_elsewhere = issuer
            .issue(
                "a1",
                Role::ClinicCenterAdmin,
                None,
                &["other-service"],
                Duration::from_secs(60),
            )
            .unwrap()
            .0;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let no_audience = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            &serde_json::json!({
                "iss": super::super::tokens::ISSUER, "sub": "a1", "role": "clinic_center_admin",
                "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4(),
            }),
            &jsonwebtoken::EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap(),
        )
        .unwrap();

        for token in [admin_elsewhere, no_audience] {
            let err = state
                .authorize("/svc/Admin", &headers(&format!("Bearer {token}")))
                .unwrap_err();
            assert_eq!(
                (err.code, err.reason),
                (tonic::Code::Unauthenticated, "TOKEN_INVALID")
            );
        }
    }

    #[test]
    fn a_service_is_admitted_only_where_the_policy_names_it() {
        let (state, issuer) = state();
        let service = |name: &str| {
            issuer
                .issue(
                    &format!("service:{name}"),
                    Role::Service,
                    None,
                    &["test"],
                    Duration::from_secs(60),
                )
                .unwrap()
                .0
        };
        let caller = headers(&format!("Bearer {}", service("caller")));
        let other = headers(&format!("Bearer {}", service("other")));

        let who = state.authorize("/svc/Internal", &caller).unwrap().unwrap();
        assert_eq!(who.subject, "service:caller");
        let err = state.authorize("/svc/Internal", &other).unwrap_err();
        assert_eq!(
            (err.code, err.reason, err.message.as_str()),
            (
                tonic::Code::PermissionDenied,
                "FORBIDDEN",
                "service:other may not call this RPC"
            )
        );
        assert_eq!(
            state.authorize("/svc/Admin", &caller).unwrap_err().reason,
            "FORBIDDEN",
            "named for one RPC, not for the others"
        );
    }

    #[test]
    fn with_mutual_tls_a_service_token_needs_that_services_certificate() {
        let (state, issuer) = state();
        let token = issuer
            .issue(
                "service:caller",
                Role::Service,
                None,
                &["test"],
                Duration::from_secs(60),
            )
            .unwrap()
            .0;
        let caller = headers(&format!("Bearer {token}"));
        let dir = tempfile::tempdir().unwrap();
        let certs = crate::tls::write_dev_certificates(dir.path(), &["caller", "other"]).unwrap();
        let chain = |name: &str| Some(Arc::new(vec![certs.certificate_der(name).unwrap()]));

        // Plaintext (binding off): the token alone, as before.
        assert!(state.authorize_on("/svc/Internal", &caller, &None).is_ok());
        let bound = AuthState {
            bind_service_tokens: true,
            ..state
        };
        let who = bound
            .authorize_on("/svc/Internal", &caller, &chain("caller"))
            .unwrap()
            .unwrap();
        assert_eq!(who.subject, "service:caller");
        for peer in [None, chain("other")] {
            let err = bound
                .authorize_on("/svc/Internal", &caller, &peer)
                .unwrap_err();
            assert_eq!(
                (err.code, err.reason, err.message.as_str()),
                (
                    tonic::Code::Unauthenticated,
                    "TOKEN_INVALID",
                    "a service token is valid only with that service's client certificate"
                )
            );
        }
    }
}
