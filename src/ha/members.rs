//! `ferrokube members [remove <id>]` and the API endpoints behind it:
//! `GET /ferrokube/members` and `DELETE /ferrokube/members/<id>` on the API port, authenticated
//! and authorized like any non-resource URL (only cluster admins hold `/ferrokube/*`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ferrokube_store::{MemberInfo, Role};
use serde_json::json;

use crate::http::AppState;
use crate::status::ApiError;

/// The path of the members endpoint.
pub const MEMBERS_PATH: &str = "/ferrokube/members";

/// `GET /ferrokube/members`: every member as the leader sees it.
pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    match state.registry.store.members().await {
        Ok(members) => Json(json!({
            "self": state.registry.store.node_id(),
            "members": members.iter().map(member_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `DELETE /ferrokube/members/<id>`.
pub async fn remove(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return ApiError::bad_request(format!("member id {id:?} is not a number")).into_response();
    };
    match state.registry.store.remove_member(id).await {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success",
                "message": format!("member {id} removed")}),
            ),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Learner => "learner",
    }
}

fn member_json(m: &MemberInfo) -> serde_json::Value {
    json!({
        "id": m.id,
        "address": m.address,
        "role": role_name(m.role),
        "lastIndex": m.last_index,
    })
}

/// The CLI: lists the members (or removes one) through the API with the admin kubeconfig.
pub async fn run_cli(client: kube::Client, remove: Option<u64>) -> anyhow::Result<()> {
    if let Some(id) = remove {
        let req = axum::http::Request::delete(format!("{MEMBERS_PATH}/{id}")).body(Vec::new())?;
        let text = client.request_text(req).await.map_err(api_message)?;
        let v: serde_json::Value = serde_json::from_str(&text)?;
        println!("{}", v["message"].as_str().unwrap_or("removed"));
        return Ok(());
    }
    let req = axum::http::Request::get(MEMBERS_PATH).body(Vec::new())?;
    let v: serde_json::Value =
        serde_json::from_str(&client.request_text(req).await.map_err(api_message)?)?;
    println!("{:<10} {:<24} {:<10} LAST INDEX", "ID", "ADDRESS", "ROLE");
    for m in v["members"].as_array().into_iter().flatten() {
        let index = m["lastIndex"]
            .as_u64()
            .map_or("-".into(), |i| i.to_string());
        println!(
            "{:<10} {:<24} {:<10} {index}",
            m["id"].as_u64().unwrap_or_default(),
            m["address"].as_str().unwrap_or_default(),
            m["role"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

fn api_message(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow::anyhow!("{} ({})", s.message, s.code),
        other => other.into(),
    }
}
