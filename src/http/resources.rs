//! The one handler for every resource path: parse, authorize the shape, dispatch to the registry,
//! encode the answer. Nothing here is per kind.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::codec::{self, Output};
use super::discovery;
use super::request::{parse_path, query_bool, ApiPath, RequestInfo};
use super::{watch, AppState};
use crate::aggregator::discovery as remote;
use crate::registry::admit::FieldValidation;
use crate::registry::filter::Filter;
use crate::registry::list::ListOptions;
use crate::registry::patch::{value_bytes, ScaleChange};
use crate::registry::rest::{DeleteOptions, Deleted, Part, WriteOptions};
use crate::registry::subresource::{Action, ActionFn, ActionOutcome, Handler};
use crate::registry::ResourceDescriptor;
use crate::status::{ApiError, ApiResult};

/// Everything one resource request carries, decoded.
pub struct Call {
    /// Path info.
    pub info: RequestInfo,
    /// HTTP method.
    pub method: Method,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// Negotiated output.
    pub output: Output,
    /// The request body (bounded).
    pub body: Bytes,
    /// `User-Agent` header: names the field manager of writes that give no `fieldManager`.
    pub user_agent: Option<String>,
    /// All request headers (the streaming subresources forward the upgrade handshake).
    pub headers: axum::http::HeaderMap,
    /// The raw query string (exec keeps repeated `command` keys the map above collapses).
    pub raw_query: Option<String>,
    /// The request URI as received (the proxy's redirects and link prefix need its path).
    pub uri: axum::http::Uri,
    /// The connection's upgrade handle, for exec/attach/portforward.
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// Who the request acts as (set by authentication and impersonation).
    pub user: Option<ferrokube_auth::UserInfo>,
}

/// Entry point for `/api/...` and `/apis/...` paths that are not discovery.
pub async fn handle(State(app): State<Arc<AppState>>, req: Request) -> Response {
    match dispatch(app, req).await {
        Ok(resp) => resp,
        Err(err) => err.into_response(),
    }
}

async fn dispatch(app: Arc<AppState>, mut req: Request) -> ApiResult<Response> {
    // A group-version an APIService hands to an extension server is proxied there whole.
    if let Some(remote) = app.aggregator.claim(req.uri().path()) {
        if let Some(axum::extract::OriginalUri(uri)) = req.extensions_mut().remove() {
            *req.uri_mut() = uri;
        }
        return Ok(crate::aggregator::proxy::serve(&app, remote, req).await);
    }
    let (mut parts, body) = req.into_parts();
    let accept = codec::header_str(&parts.headers, header::ACCEPT).map(str::to_string);
    // The path as the client sent it (before the trailing slash was trimmed for routing).
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.remove() {
        parts.uri = uri;
    }
    let info = match parse_path(parts.uri.path()) {
        ApiPath::Resource(info) => info,
        ApiPath::LegacyRoot
        | ApiPath::GroupsRoot
        | ApiPath::Group(_)
        | ApiPath::GroupVersion(..) => {
            let if_none_match = codec::header_str(&parts.headers, header::IF_NONE_MATCH);
            return discovery_response(&app, parts.uri.path(), accept.as_deref(), if_none_match);
        }
        ApiPath::Unknown => return Err(ApiError::not_found_path()),
    };
    let d = app
        .registry
        .lookup(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::not_found_path)?;
    // A proxy carries whatever the backend serves: the client's Accept is the backend's
    // business, and a subpath is only meaningful there.
    let proxied = info
        .subresource
        .as_deref()
        .and_then(|s| d.subresource(s))
        .is_some_and(|s| matches!(s.handler, Handler::Proxy(_)));
    if !proxied && info.subpath.as_deref().is_some_and(|p| p != "/") {
        return Err(ApiError::not_found_path());
    }
    let output = match codec::negotiate(accept.as_deref()) {
        Err(_) if proxied => Output::Json,
        other => other?,
    };
    let body = axum::body::to_bytes(body, codec::MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large())?;
    let mut call = Call {
        query: super::request::parse_query(parts.uri.query()),
        content_type: codec::header_str(&parts.headers, header::CONTENT_TYPE).map(str::to_string),
        output,
        user_agent: codec::header_str(&parts.headers, header::USER_AGENT).map(str::to_string),
        raw_query: parts.uri.query().map(str::to_string),
        upgrade: parts.extensions.remove::<hyper::upgrade::OnUpgrade>(),
        user: parts.extensions.remove::<ferrokube_auth::UserInfo>(),
        headers: parts.headers,
        method: parts.method,
        uri: parts.uri,
        info,
        body,
    };
    // A namespaced kind needs a namespace in the path, except to list or watch across all of
    // them; a cluster-scoped kind never has one.
    let cross_namespace_read = call.info.name.is_none() && call.method == Method::GET;
    let scope_ok = match (d.namespaced, call.info.namespace.is_some()) {
        (true, true) | (false, false) => true,
        (true, false) => cross_namespace_read,
        (false, true) => false,
    };
    if !scope_ok {
        return Err(ApiError::not_found_path());
    }
    if let Some(sub) = &call.info.subresource {
        if d.subresource(sub).is_none() {
            return Err(ApiError::not_found_path());
        }
    }
    if d.create_only.is_some() && !matches!(call.output, Output::Json | Output::Protobuf) {
        call.output = codec::negotiate_untransformed(accept.as_deref())?;
    }
    if !d.protobuf() && !proxied {
        // Custom resources are JSON and YAML only, as upstream serves them: a protobuf body is
        // 415, and a client that accepts JSON too gets JSON.
        if codec::media_type(call.content_type.as_deref()) == codec::PROTOBUF {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {:?})", codec::PROTOBUF),
            ));
        }
        if call.output == Output::Protobuf {
            call.output = codec::negotiate_without_protobuf(accept.as_deref())?;
        }
    }
    serve(&app, d, call).await
}

fn discovery_response(
    app: &AppState,
    path: &str,
    accept: Option<&str>,
    if_none_match: Option<&str>,
) -> ApiResult<Response> {
    let reg = &app.registry;
    let doc = match parse_path(path) {
        ApiPath::LegacyRoot | ApiPath::GroupsRoot => {
            let core = matches!(parse_path(path), ApiPath::LegacyRoot);
            if let Some(version) = discovery::aggregated_version(accept) {
                let mut doc = discovery::aggregated(reg, core, version);
                if !core {
                    remote::merge_aggregated(&mut doc, &app.aggregator.entries());
                }
                // Upstream's aggregated discovery carries an ETag of the document, which
                // clients revalidate with If-None-Match; it changes when a CRD comes or goes.
                let body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
                let etag = format!("\"{}\"", discovery::etag(&body));
                if if_none_match == Some(etag.as_str()) {
                    let mut resp = Response::new(Body::empty());
                    *resp.status_mut() = StatusCode::NOT_MODIFIED;
                    resp.headers_mut().insert(
                        header::ETAG,
                        etag.parse().map_err(|_| ApiError::internal("etag"))?,
                    );
                    return Ok(resp);
                }
                let mut resp = codec::json_bytes(StatusCode::OK, body);
                resp.headers_mut().insert(
                    header::ETAG,
                    etag.parse().map_err(|_| ApiError::internal("etag"))?,
                );
                let ct = format!(
                    "application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
                );
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    ct.parse().map_err(|_| ApiError::internal("content type"))?,
                );
                return Ok(resp);
            }
            if core {
                discovery::api_versions(&app.advertise_address)
            } else {
                let mut doc = discovery::api_group_list(reg);
                remote::merge_group_list(&mut doc, &app.aggregator.entries());
                doc
            }
        }
        ApiPath::Group(g) => {
            let local = discovery::api_group(reg, &g);
            remote::group(local, &g, &app.aggregator.entries())
                .ok_or_else(ApiError::not_found_path)?
        }
        ApiPath::GroupVersion(g, v) => {
            discovery::api_resource_list(reg, &g, &v).ok_or_else(ApiError::not_found_path)?
        }
        _ => return Err(ApiError::not_found_path()),
    };
    Ok(codec::json_value(StatusCode::OK, &doc))
}

fn write_options(call: &Call) -> ApiResult<WriteOptions> {
    let q = &call.query;
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other:?}: supported values are [All]"
            )))
        }
    };
    let media = codec::media_type(call.content_type.as_deref());
    let duplicate_fields =
        ferrokube_apimachinery::body::duplicates::duplicate_fields(&media, &call.body);
    Ok(WriteOptions {
        dry_run,
        field_validation: FieldValidation::parse(
            q.get("fieldValidation").map(String::as_str).unwrap_or(""),
        )?,
        field_manager: q.get("fieldManager").filter(|m| !m.is_empty()).cloned(),
        user_agent: call.user_agent.clone(),
        apply: false,
        user: call.user.clone().map(std::sync::Arc::new),
        yaml_duplicates: (!duplicate_fields.is_empty() && media == "application/apply-patch+yaml")
            .then(|| ferrokube_apimachinery::body::duplicates::yaml_duplicate_error(&call.body))
            .flatten(),
        duplicate_fields,
    })
}

fn part_of(sub: Option<&str>) -> Part {
    match sub {
        Some("status") => Part::Status,
        Some("finalize") => Part::Finalize,
        Some("approval") => Part::Approval,
        Some(crate::registry::rest::EPHEMERAL_CONTAINERS) => Part::EphemeralContainers,
        Some(crate::registry::resize::RESIZE) => Part::Resize,
        _ => Part::Main,
    }
}

async fn serve(app: &Arc<AppState>, d: Arc<ResourceDescriptor>, call: Call) -> ApiResult<Response> {
    let reg = &app.registry;
    let ns = call.info.namespace.as_deref();
    let name = call.info.name.as_deref();
    let sub = call.info.subresource.as_deref();
    let q = &call.query;
    refuse_untransformable(&d, &call, name.is_none() && sub.is_none())?;
    if let Some(action) = d.create_only {
        // A review kind: nothing is stored, so create is all there is.
        if call.method != Method::POST || name.is_some() || sub.is_some() {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({} {})",
                call.method,
                d.qualified()
            )));
        }
        return serve_action(app, &d, ns, "", action, &call).await;
    }
    if let Some(computed) = &d.computed {
        return super::computed::serve(reg, &d, computed, &call).await;
    }
    if let (Some(name), Some(sub)) = (name, sub) {
        // Dispatch on the kind's subresource table: checked to exist in `dispatch`.
        let Some(entry) = d.subresource(sub) else {
            return Err(ApiError::not_found_path());
        };
        if let Handler::Proxy(locate) = entry.handler {
            // Any of upstream's proxy methods, HEAD and OPTIONS included.
            return super::reverse_proxy::serve(app, locate, call).await;
        }
        if !entry.allows(verb_of(&call.method)) {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({} {}/{sub})",
                call.method,
                d.qualified()
            )));
        }
        match entry.handler {
            Handler::Connect => return super::proxy::serve(app, &d, call).await,
            Handler::Action(action) => return serve_action(app, &d, ns, name, action, &call).await,
            Handler::Status | Handler::Scale | Handler::Finalize | Handler::Proxy(_) => {}
        }
    }
    match (&call.method, name, sub) {
        (&Method::GET, None, None) => {
            if call.info.legacy_watch || query_bool(q, "watch") == Some(true) {
                let filter = Filter::parse(
                    &d,
                    q.get("labelSelector").map(String::as_str),
                    q.get("fieldSelector").map(String::as_str),
                )?;
                return watch::serve_watch(app.clone(), d, ns, filter, &call).await;
            }
            list(app, &d, ns, &call).await
        }
        (&Method::GET, Some(name), None)
            if call.info.legacy_watch || query_bool(q, "watch") == Some(true) =>
        {
            let filter = Filter::parse(
                &d,
                q.get("labelSelector").map(String::as_str),
                q.get("fieldSelector").map(String::as_str),
            )?
            .with_name(name);
            watch::serve_watch(app.clone(), d, ns, filter, &call).await
        }
        (
            &Method::GET,
            Some(name),
            None | Some("status" | "approval" | "ephemeralcontainers" | "resize"),
        ) => object_reply(
            &d,
            StatusCode::OK,
            reg.get(&d, ns, name).await?.value,
            &call,
        ),
        (&Method::GET, Some(name), Some("scale")) => Ok(codec::json_value(
            StatusCode::OK,
            &reg.get_scale(&d, ns, name).await?,
        )),
        (&Method::POST, None, None) => {
            let body = codec::decode_object(call.content_type.as_deref(), &call.body)?;
            let opts = write_options(&call)?;
            let written = reg.create(&d, ns, body, &opts).await?;
            let resp = object_reply(&d, StatusCode::CREATED, written.object, &call)?;
            Ok(codec::with_warnings(resp, &written.warnings))
        }
        (
            &Method::PUT,
            Some(name),
            None | Some("status" | "finalize" | "approval" | "ephemeralcontainers" | "resize"),
        ) => {
            let body = codec::decode_object(call.content_type.as_deref(), &call.body)?;
            let written = reg
                .update(&d, ns, name, part_of(sub), body, &write_options(&call)?)
                .await?;
            let code = if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let resp = object_reply(&d, code, written.object, &call)?;
            Ok(codec::with_warnings(resp, &written.warnings))
        }
        (&Method::PUT, Some(name), Some("scale")) => {
            let body = codec::decode_object(call.content_type.as_deref(), &call.body)?;
            let scale = reg
                .write_scale(
                    &d,
                    ns,
                    name,
                    ScaleChange::Replace(body),
                    &write_options(&call)?,
                )
                .await?;
            Ok(codec::json_value(StatusCode::OK, &scale))
        }
        (
            &Method::PATCH,
            Some(name),
            None | Some("status" | "scale" | "approval" | "ephemeralcontainers" | "resize"),
        ) => {
            let force = query_bool(q, "force") == Some(true);
            let patch = codec::decode_patch(call.content_type.as_deref(), &call.body, force)?;
            let opts = write_options(&call)?;
            if sub == Some("scale") {
                let scale = reg
                    .write_scale(&d, ns, name, ScaleChange::Patch(patch), &opts)
                    .await?;
                return Ok(codec::json_value(StatusCode::OK, &scale));
            }
            let written = reg.patch(&d, ns, name, part_of(sub), patch, &opts).await?;
            let code = if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let resp = object_reply(&d, code, written.object, &call)?;
            Ok(codec::with_warnings(resp, &written.warnings))
        }
        (&Method::DELETE, Some(name), None) => {
            let opts = delete_options(&call)?;
            match reg.delete(&d, ns, name, &opts).await? {
                Deleted::Pending(obj) => object_reply(&d, StatusCode::OK, obj, &call),
                Deleted::Gone(obj) => {
                    let uid = serde_json::from_slice::<Value>(&obj)
                        .ok()
                        .and_then(|o| o.pointer("/metadata/uid").cloned());
                    Ok(codec::json_value(
                        StatusCode::OK,
                        &json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                            "details": {"name": name, "group": d.group, "kind": d.plural, "uid": uid},
                        }),
                    ))
                }
            }
        }
        (&Method::DELETE, None, None) if d.delete_collection => {
            delete_collection(app, &d, ns, &call).await
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            call.method,
            d.qualified()
        ))),
    }
}

/// One object in the representation the client asked for: a Table row, its
/// PartialObjectMetadata, protobuf or JSON.
fn object_reply(
    d: &ResourceDescriptor,
    code: StatusCode,
    object: Bytes,
    call: &Call,
) -> ApiResult<Response> {
    if let Output::Table { beta } = call.output {
        let value: Value = serde_json::from_slice(&object)
            .map_err(|e| ApiError::internal(format!("decoding stored object: {e}")))?;
        let table = table_of(d, &[&value], codec::include_object(&call.query), beta, None);
        return Ok(codec::json_value(code, &table));
    }
    Ok(codec::object_response(code, object, call.output))
}

/// Upstream answers 406 when a metadata-only form does not fit what the request returns
/// (PartialObjectMetadataList of one object, PartialObjectMetadata of a list). Checked before
/// anything is written, so a refused transformation never follows a committed write. Watches
/// take either form, as client-go's metadata informers ask for both.
fn refuse_untransformable(d: &ResourceDescriptor, call: &Call, collection: bool) -> ApiResult<()> {
    let Output::Metadata { list } = call.output else {
        return Ok(());
    };
    let watch = call.info.legacy_watch || query_bool(&call.query, "watch") == Some(true);
    let returns_list = collection && matches!(call.method, Method::GET | Method::DELETE);
    if watch || list == returns_list || call.info.subresource.is_some() {
        return Ok(());
    }
    let message = if list {
        format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list (*{}.{})",
            d.version, d.kind
        )
    } else {
        format!(
            "you requested PartialObjectMetadata, but the requested object is a list (*{}.{})",
            d.version, d.list_kind
        )
    };
    Err(ApiError::new(406, "NotAcceptable", message))
}

/// The verb of a request's method, as discovery lists verbs.
fn verb_of(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// Runs an action subresource (binding, eviction, token) with the decoded body.
async fn serve_action(
    app: &AppState,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    name: &str,
    action: ActionFn,
    call: &Call,
) -> ApiResult<Response> {
    let body = codec::decode_object(call.content_type.as_deref(), &call.body)?;
    let options = write_options(call)?;
    let outcome = action(Action {
        registry: &app.registry,
        descriptor: d,
        namespace: ns,
        name,
        body,
        options: &options,
        tokens: app.authenticator.service_account_tokens().map(|t| &**t),
        user: call.user.as_ref(),
        authenticator: Some(&app.authenticator),
        authorizer: Some(&app.authorizer),
    })
    .await?;
    Ok(match outcome {
        ActionOutcome::Success(code) => status_success(code),
        ActionOutcome::Object(code, object) => codec::object_response(
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            object,
            call.output,
        ),
    })
}

/// Parses DeleteOptions from the query and (JSON, YAML or protobuf) body.
fn delete_options(call: &Call) -> ApiResult<DeleteOptions> {
    let body = if call.body.is_empty() {
        json!({})
    } else {
        codec::decode_object(call.content_type.as_deref(), &call.body)?
    };
    let q = &call.query;
    let grace = match q.get("gracePeriodSeconds") {
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid gracePeriodSeconds: {v:?}")))?,
        ),
        None => body.get("gracePeriodSeconds").and_then(Value::as_i64),
    };
    let orphan = q
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            orphan.map(|o| {
                if o {
                    "Orphan".to_string()
                } else {
                    "Background".to_string()
                }
            })
        });
    if let Some(p) = &propagation {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::new(422, "Invalid", format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"")));
        }
    }
    let dry_run = q.get("dryRun").map(|v| v == "All").unwrap_or(false)
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        grace_period_seconds: grace,
        propagation_policy: propagation,
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run,
    })
}

fn list_options(d: &ResourceDescriptor, q: &HashMap<String, String>) -> ApiResult<ListOptions> {
    let limit = match q.get("limit").filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {v:?}")))?
            .max(0) as usize,
        None => 0,
    };
    Ok(ListOptions {
        filter: Filter::parse(
            d,
            q.get("labelSelector").map(String::as_str),
            q.get("fieldSelector").map(String::as_str),
        )?,
        limit,
        continue_token: q.get("continue").cloned(),
        resource_version: q.get("resourceVersion").cloned(),
        resource_version_match: q.get("resourceVersionMatch").cloned(),
    })
}

async fn list(
    app: &AppState,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    call: &Call,
) -> ApiResult<Response> {
    let opts = list_options(d, &call.query)?;
    let page = app.registry.list(d, ns, &opts).await?;
    let mut metadata = json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    if let Output::Table { beta } = call.output {
        let objects: Vec<Value> = page
            .items
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect();
        let refs: Vec<&Value> = objects.iter().collect();
        let table = table_of(
            d,
            &refs,
            codec::include_object(&call.query),
            beta,
            Some(metadata),
        );
        return Ok(codec::json_value(StatusCode::OK, &table));
    }
    if matches!(call.output, Output::Metadata { .. }) {
        let items: Vec<Bytes> = page
            .items
            .iter()
            .map(|i| codec::partial_metadata(i))
            .collect();
        let body = list_envelope(
            "PartialObjectMetadataList",
            "meta.k8s.io/v1",
            &metadata,
            &items,
        );
        return Ok(codec::json_bytes(StatusCode::OK, body));
    }
    let body = list_body(d, &metadata, &page.items);
    Ok(codec::object_response(StatusCode::OK, body, call.output))
}

/// Assembles `{"kind":"<Kind>List",...,"items":[...]}` from stored bytes without re-encoding them.
pub fn list_body(d: &ResourceDescriptor, metadata: &Value, items: &[Bytes]) -> Bytes {
    list_envelope(&d.list_kind, &d.api_version(), metadata, items)
}

/// A list object of the given kind around already-encoded items.
pub fn list_envelope(kind: &str, api_version: &str, metadata: &Value, items: &[Bytes]) -> Bytes {
    let head = format!(
        "{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\",\"metadata\":{metadata},\"items\":["
    );
    let mut buf =
        BytesMut::with_capacity(head.len() + items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    buf.put_slice(head.as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(item);
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

/// A meta.k8s.io Table of objects, with list metadata when given.
pub fn table_of(
    d: &ResourceDescriptor,
    objects: &[&Value],
    include: ferrokube_apimachinery::printers::IncludeObject,
    beta: bool,
    metadata: Option<Value>,
) -> Value {
    let mut table = match d.custom() {
        Some(custom) => {
            crate::crd::table::table(&custom.columns, objects, include, chrono::Utc::now())
        }
        None => ferrokube_apimachinery::printers::table(
            &d.printer,
            objects,
            include,
            chrono::Utc::now(),
        ),
    };
    if beta {
        table["apiVersion"] = json!("meta.k8s.io/v1beta1");
    }
    if let Some(metadata) = metadata {
        table["metadata"] = metadata;
    } else if let Some(rv) = objects
        .first()
        .and_then(|o| o.pointer("/metadata/resourceVersion"))
    {
        table["metadata"] = json!({"resourceVersion": rv});
    }
    table
}

async fn delete_collection(
    app: &AppState,
    d: &ResourceDescriptor,
    ns: Option<&str>,
    call: &Call,
) -> ApiResult<Response> {
    let opts = list_options(d, &call.query)?;
    let delete = delete_options(call)?;
    let page = app
        .registry
        .list(
            d,
            ns,
            &ListOptions {
                limit: 0,
                continue_token: None,
                ..opts
            },
        )
        .await?;
    let mut deleted = Vec::new();
    for item in &page.items {
        let obj: Value =
            serde_json::from_slice(item).map_err(|e| ApiError::internal(e.to_string()))?;
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let item_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        match app.registry.delete(d, item_ns, name, &delete).await {
            Ok(Deleted::Gone(v)) | Ok(Deleted::Pending(v)) => deleted.push(v),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let metadata = json!({"resourceVersion": app.registry.store.current_revision().to_string()});
    Ok(codec::json_bytes(
        StatusCode::OK,
        list_body(d, &metadata, &deleted),
    ))
}

/// Renders a registry value to bytes (used by action subresources).
pub fn status_success(code: u16) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code});
    let mut resp = codec::json_bytes(
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        value_bytes(&status),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-cache, private".parse().expect("static header"),
    );
    resp
}

/// Turns a body stream into a response with the given content type.
pub fn streaming(body: Body, content_type: &'static str) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.parse().expect("static header"),
    );
    resp
}
