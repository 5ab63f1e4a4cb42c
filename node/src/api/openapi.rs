//! The parts of the OpenAPI document that are not routes: its title and description,
//! the bearer-token scheme, and the schemas of the event stream's `data:` (which no
//! route's JSON body names). The routes are added by `daemon::http::openapi`, from the
//! handlers' own annotations, so the document and the server cannot drift apart.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{HealthChange, HealthEvent, NodeEvent, Numbered};

/// The name of the bearer-token security scheme in the document.
pub const BEARER: &str = "bearer";

/// The document without its paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "swarmvote node API",
        version = "1",
        description = "The local HTTP API of one swarmvote node. Every request, \
            `GET /v1/openapi.json` included, needs `Authorization: Bearer <token>`; the \
            token is in `<data_dir>/api.cookie` (mode 0600, new at every start) unless the \
            node config fixes one (`[api] token`). The bound address is in \
            `<data_dir>/api.addr`. Errors are `{\"error\": {\"code\", \"message\"}}`. \
            This document is generated from the server's own types and routes.",
        license(name = "MIT OR Apache-2.0")
    ),
    servers((url = "http://127.0.0.1:7100")),
    security(("bearer" = [])),
    components(schemas(Numbered, NodeEvent, HealthEvent, HealthChange)),
    modifiers(&BearerScheme)
)]
pub struct Contract;

/// Adds the bearer-token scheme the `security` requirement names.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
