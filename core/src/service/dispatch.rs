//! Runs an authorised project call that needs nothing but the store (every call except
//! connecting a bot, which talks to the messenger first).

use super::routes::ProjectCall;
use super::{clients, owner, ApiError, Config, Reply};
use crate::domain::time::Millis;
use crate::store::{ProjectRecord, Sql, Store};

/// What a call may read from its request.
pub struct CallInput<'a> {
    pub query: &'a [(String, String)],
    pub if_match: Option<&'a str>,
    pub body: &'a [u8],
    pub now: Millis,
}

pub fn project_call<S: Sql>(
    store: &Store<S>,
    config: &Config,
    project: &ProjectRecord,
    call: ProjectCall,
    input: &CallInput,
) -> Result<Reply, ApiError> {
    use ProjectCall::*;
    let now = input.now;
    let name = crate::domain::ProjectName::parse(&project.name)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    match call {
        GetProject => owner::get_project(store, project),
        ListBots => owner::list_bots(store, config, &name),
        ListDeliveries => owner::list_deliveries(store, input.query),
        ResendDelivery(id) => owner::resend_delivery(store, id, now),
        Stats => owner::stats(store, input.query, now),
        CreateMergeLink(client) => {
            owner::create_merge_link(store, config, &name, client, input.body, now)
        }
        GetClient(client) => owner::get_client(store, client, now),
        GetContact(group, user) => owner::get_contact(store, &group, &user, now),
        Unmerge(group, user) => owner::unmerge(store, &group, &user, now),
        ChangedClients => clients::changed(store, input.query),
        MergeClient(main) => clients::merge_client(store, main, input.body, now),
        MainId(client) => clients::main_id(store, client),
        Dialogs(client) => clients::dialogs(store, client, now),
        Reachable(client) => clients::reachable(store, client, now),
        GetVariables(client) => clients::get_variables(store, client),
        PutVariables(client) => {
            clients::put_variables(store, client, input.if_match, input.body, now)
        }
        PlatformLookup(client_type, platform_id) => {
            clients::by_platform_id(store, client_type, &platform_id)
        }
        PutBot(_) => Err(ApiError::Internal(
            "connecting a bot needs the messenger: the glue runs it".into(),
        )),
    }
}
