//! Which operation a method and path name. Shared by the edge (to pick the Durable Object) and the
//! Durable Object (to run it), so both agree.

use super::ApiError;
use crate::domain::{ClientId, ClientType, Group, ProjectName, UserId};
use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    /// `GET /mlink/{token}`: the redirect.
    Mlink(String),
    /// `PUT /api/v1/projects/{project}` (admin).
    PutProject(ProjectName),
    /// Any other project call (project API key).
    Project(ProjectName, ProjectCall),
    /// `POST /webhooks/{project}/{group}` (and `GET` for handshakes).
    Webhook(ProjectName, Group),
    /// Anything else: a static page, or 404.
    Static,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCall {
    GetProject,
    Stats,
    ListDeliveries,
    ResendDelivery(i64),
    PutBot(Group),
    ListBots,
    CreateMergeLink(ClientId),
    ChangedClients,
    MergeClient(ClientId),
    MainId(ClientId),
    Dialogs(ClientId),
    Reachable(ClientId),
    GetVariables(ClientId),
    PutVariables(ClientId),
    PlatformLookup(ClientType, UserId),
    GetClient(ClientId),
    GetContact(Group, UserId),
    Unmerge(Group, UserId),
}

impl ProjectCall {
    /// Whether the call writes to the project's store: the object runs such calls in a group
    /// that shares one commit; reads run at once.
    pub fn writes(&self) -> bool {
        use ProjectCall::*;
        match self {
            ResendDelivery(_) | PutBot(_) | CreateMergeLink(_) | MergeClient(_)
            | PutVariables(_) | Unmerge(..) => true,
            GetProject | Stats | ListDeliveries | ListBots | ChangedClients | MainId(_)
            | Dialogs(_) | Reachable(_) | GetVariables(_) | PlatformLookup(..) | GetClient(_)
            | GetContact(..) => false,
        }
    }
}

impl Route {
    /// The project whose Durable Object serves this route.
    pub fn project(&self) -> Option<&ProjectName> {
        match self {
            Route::PutProject(p) | Route::Project(p, _) | Route::Webhook(p, _) => Some(p),
            _ => None,
        }
    }

    /// `/webhooks/{project}/{group}` read as [`Route::parse`] reads it, without the rest of the
    /// table: the edge module checks each webhook with it and carries no other route.
    pub fn webhook_path(path: &str) -> Option<(ProjectName, Group)> {
        let mut segments = path.trim_start_matches('/').split('/');
        match (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) {
            (Some("webhooks"), Some(project), Some(group), None) => {
                Some((ProjectName::parse(project).ok()?, Group::parse(group).ok()?))
            }
            _ => None,
        }
    }

    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["health"] => expect(method, &["GET", "HEAD"], Route::Health),
            ["mlink", token] => expect(method, &["GET", "HEAD"], Route::Mlink(token.to_string())),
            ["webhooks", project, group] => expect(
                method,
                &["POST", "GET"],
                Route::Webhook(project_name(project)?, group_id(group)?),
            ),
            ["api", "v1", "projects", project] => {
                let project = project_name(project)?;
                match method {
                    "GET" => Ok(Route::Project(project, ProjectCall::GetProject)),
                    _ => expect(method, &["PUT"], Route::PutProject(project)),
                }
            }
            ["api", "v1", "projects", project, rest @ ..] => {
                let project = project_name(project)?;
                Ok(Route::Project(project, project_call(method, rest)?))
            }
            ["api", ..] | ["webhooks", ..] => Err(ApiError::not_found(
                "route_not_found",
                format!("no such route: {method} {path}"),
            )),
            _ => Ok(Route::Static),
        }
    }
}

fn project_call(method: &str, rest: &[&str]) -> Result<ProjectCall, ApiError> {
    use ProjectCall::*;
    let (allowed, call): (&[&str], ProjectCall) = match rest {
        ["bots"] => (&["GET"], ListBots),
        ["bots", group] => (&["PUT"], PutBot(group_id(group)?)),
        ["deliveries"] => (&["GET"], ListDeliveries),
        ["deliveries", id, "resend"] => (&["POST"], ResendDelivery(delivery_id(id)?)),
        ["stats"] => (&["GET"], Stats),
        ["clients"] => (&["GET"], ChangedClients),
        ["clients", id] => (&["GET"], GetClient(client_id(id)?)),
        ["clients", id, "merge-links"] => (&["POST"], CreateMergeLink(client_id(id)?)),
        ["clients", id, "merge"] => (&["POST"], MergeClient(client_id(id)?)),
        ["clients", id, "main"] => (&["GET"], MainId(client_id(id)?)),
        ["clients", id, "dialogs"] => (&["GET"], Dialogs(client_id(id)?)),
        ["clients", id, "reachable"] => (&["GET"], Reachable(client_id(id)?)),
        ["clients", id, "variables"] if method == "PUT" => (&["PUT"], PutVariables(client_id(id)?)),
        ["clients", id, "variables"] => (&["GET", "PUT"], GetVariables(client_id(id)?)),
        ["contacts", group, user] => (&["GET"], GetContact(group_id(group)?, user_id(user)?)),
        ["contacts", group, user, "unmerge"] => {
            (&["POST"], Unmerge(group_id(group)?, user_id(user)?))
        }
        ["platform-ids", client_type, platform_id] => (
            &["GET"],
            PlatformLookup(messenger(client_type)?, user_id(platform_id)?),
        ),
        _ => {
            return Err(ApiError::not_found(
                "route_not_found",
                format!("no such route: /{}", rest.join("/")),
            ))
        }
    };
    expect(method, allowed, call)
}

fn messenger(s: &str) -> Result<ClientType, ApiError> {
    s.parse::<i64>()
        .ok()
        .and_then(|code| ClientType::from_code(code).ok())
        .ok_or_else(|| ApiError::BadRequest("client_type is 1, 2, 3, 6 or 10".into()))
}

fn expect<T>(method: &str, allowed: &[&str], value: T) -> Result<T, ApiError> {
    if allowed.contains(&method) {
        Ok(value)
    } else {
        // The value of the `Allow` header the 405 must carry.
        Err(ApiError::MethodNotAllowed(allowed.join(", ")))
    }
}

fn decoded(segment: &str) -> Result<String, ApiError> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::BadRequest("path segments must be UTF-8".into()))
}

fn project_name(s: &str) -> Result<ProjectName, ApiError> {
    ProjectName::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn group_id(s: &str) -> Result<Group, ApiError> {
    Group::parse(&decoded(s)?).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn user_id(s: &str) -> Result<UserId, ApiError> {
    UserId::parse(&decoded(s)?).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn delivery_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && !s.starts_with('+'))
        .ok_or_else(|| ApiError::BadRequest("a delivery id is a positive integer".into()))
}

fn client_id(s: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(s).map_err(|e| ApiError::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_that_write_are_the_ones_not_read_with_get() {
        let paths = [
            ("GET", "/api/v1/projects/acme"),
            ("GET", "/api/v1/projects/acme/stats"),
            ("GET", "/api/v1/projects/acme/deliveries"),
            ("POST", "/api/v1/projects/acme/deliveries/7/resend"),
            ("PUT", "/api/v1/projects/acme/bots/botB"),
            ("GET", "/api/v1/projects/acme/bots"),
            ("POST", "/api/v1/projects/acme/clients/7/merge-links"),
            ("GET", "/api/v1/projects/acme/clients"),
            ("POST", "/api/v1/projects/acme/clients/7/merge"),
            ("GET", "/api/v1/projects/acme/clients/7/main"),
            ("GET", "/api/v1/projects/acme/clients/7/dialogs"),
            ("GET", "/api/v1/projects/acme/clients/7/reachable"),
            ("GET", "/api/v1/projects/acme/clients/7/variables"),
            ("PUT", "/api/v1/projects/acme/clients/7/variables"),
            ("GET", "/api/v1/projects/acme/clients/7"),
            ("GET", "/api/v1/projects/acme/contacts/botB/42"),
            ("GET", "/api/v1/projects/acme/platform-ids/1/42"),
            ("POST", "/api/v1/projects/acme/contacts/botB/42/unmerge"),
        ];
        for (method, path) in paths {
            let Ok(Route::Project(_, call)) = Route::parse(method, path) else {
                panic!("{method} {path} is not a project call");
            };
            assert_eq!(call.writes(), method != "GET", "{method} {path}: {call:?}");
        }
    }

    fn p(s: &str) -> ProjectName {
        ProjectName::parse(s).unwrap()
    }

    #[test]
    fn webhook_paths_read_as_the_table_reads_them() {
        let paths = [
            "/webhooks/acme/botB",
            "/webhooks/acme/7",
            "/webhooks/Acme/botB",
            "/webhooks/acme",
            "/webhooks/acme/botB/x",
            "/webhooks//botB",
            "/webhook/acme/botB",
            "/api/v1/projects/acme",
        ];
        for path in paths {
            let from_table = match Route::parse("POST", path) {
                Ok(Route::Webhook(project, group)) => Some((project, group)),
                _ => None,
            };
            assert_eq!(Route::webhook_path(path), from_table, "{path}");
        }
        assert!(Route::webhook_path("/webhooks/acme/botB").is_some());
    }

    #[test]
    fn routes() {
        assert_eq!(Route::parse("GET", "/health"), Ok(Route::Health));
        assert_eq!(
            Route::parse("GET", "/mlink/abc"),
            Ok(Route::Mlink("abc".into()))
        );
        assert_eq!(
            Route::parse("PUT", "/api/v1/projects/acme"),
            Ok(Route::PutProject(p("acme")))
        );
        assert_eq!(
            Route::parse("POST", "/api/v1/projects/acme/clients/42/merge-links"),
            Ok(Route::Project(
                p("acme"),
                ProjectCall::CreateMergeLink(ClientId(42))
            ))
        );
        assert_eq!(
            Route::parse("POST", "/api/v1/projects/acme/contacts/bot1/AbC%3D/unmerge"),
            Ok(Route::Project(
                p("acme"),
                ProjectCall::Unmerge(
                    Group::parse("bot1").unwrap(),
                    UserId::parse("AbC=").unwrap()
                )
            ))
        );
        assert_eq!(Route::parse("GET", "/"), Ok(Route::Static));
        assert_eq!(Route::parse("GET", "/console"), Ok(Route::Static));
    }

    #[test]
    fn a_405_names_the_allowed_methods() {
        let refused = Route::parse("POST", "/health").unwrap_err();
        assert_eq!(refused.status(), 405);
        assert_eq!(
            refused.reply().headers,
            vec![("allow", "GET, HEAD".to_string())]
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Route::parse("POST", "/api/v1/projects/acme")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/projects/acme"),
            Ok(Route::Project(p("acme"), ProjectCall::GetProject))
        );
        assert_eq!(
            Route::parse("POST", "/api/v1/projects/acme/deliveries/x/resend")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            Route::parse("PUT", "/api/v1/projects/ACME")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/projects/acme/clients/0")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/projects/acme/nope")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(Route::parse("GET", "/api/v2").unwrap_err().status(), 404);
        assert_eq!(
            Route::parse("GET", "/api/v1/projects/acme/contacts/b/%FF")
                .unwrap_err()
                .status(),
            400
        );
    }
}
