//! Where one upload goes: a real Graph or the embedded emulator ([`Destination`]), the core's
//! [`Target`] for a [`Job`]'s destination, and To Do names looked up as IDs (`names.rs` reads
//! the pages).

use std::time::Duration;

use graph_emulator::{Config, Emulator, Faults, Parent};
use upload_session::{ConfigError, DrivePlace, OutlookItem, Owner, Target};

use crate::job::{Dest, Job};
use crate::names;
use crate::source::SourceFile;
use crate::token::TokenSource;
use crate::transport::Http;
use crate::CliError;

/// A To Do list and task given by name, looked up once: the same job with their IDs, for a
/// run of several files to one task. Unchanged when there is nothing to look up (or no
/// Graph URL: each file's embedded emulator answers for itself).
pub fn with_names_resolved(job: &Job) -> Result<Job, CliError> {
    let Dest::Todo {
        list,
        task,
        list_name,
        task_title,
        user,
    } = &job.dest
    else {
        return Ok(job.clone());
    };
    if job.graph_url.is_none() || (list_name.is_none() && task_title.is_none()) {
        return Ok(job.clone());
    }
    let dest = destination(job)?;
    let http = Http::new(
        Duration::from_millis(job.timeout_ms.max(1)),
        Some(dest.token.fetch()?),
    );
    let (list, task) = todo_ids(&dest, &http, (list, list_name), (task, task_title), user)?;
    let mut resolved = job.clone();
    resolved.dest = Dest::Todo {
        list: Some(list),
        task: Some(task),
        list_name: None,
        task_title: None,
        user: user.clone(),
    };
    Ok(resolved)
}

/// The list's and task's IDs: given, looked up by name on Graph (under the upload's owner),
/// or the embedded emulator's own.
fn todo_ids(
    dest: &Destination,
    http: &Http,
    (list, list_name): (&Option<String>, &Option<String>),
    (task, task_title): (&Option<String>, &Option<String>),
    user: &Option<String>,
) -> Result<(String, String), CliError> {
    let demo = dest.emulator.as_ref();
    let owner_path = names::owner_path(match (user, demo) {
        (Some(_), Some(emu)) => Some(emu.user_id()),
        (Some(u), None) => Some(u.as_str()),
        (None, _) => None,
    });
    let list = match (list, list_name) {
        (None, Some(name)) => names::list_id(http, &dest.token, &dest.base, &owner_path, name)?,
        _ => id(
            list,
            "--list or --list-name",
            dest,
            demo.map_or("", |e| e.list_id()),
        )?,
    };
    let task = match (task, task_title) {
        (None, Some(title)) => {
            names::task_id(http, &dest.token, &dest.base, &owner_path, &list, title)?
        }
        _ => id(
            task,
            "--task or --task-title",
            dest,
            demo.map_or("", |e| e.task_id()),
        )?,
    };
    Ok((list, task))
}

/// Where the upload goes: a real Graph, or the embedded emulator.
pub(crate) struct Destination {
    pub(crate) base: String,
    pub(crate) token: TokenSource,
    pub(crate) emulator: Option<Emulator>,
}

pub(crate) fn destination(job: &Job) -> Result<Destination, CliError> {
    if let Some(base) = &job.graph_url {
        let token = job.token.clone().ok_or_else(|| {
            CliError::Usage(
                "--graph-url needs --token, GRAPH_TOKEN, --token-command or GRAPH_TOKEN_COMMAND"
                    .into(),
            )
        })?;
        return Ok(Destination {
            base: base.clone(),
            token,
            emulator: None,
        });
    }
    let faults = Faults::parse(&job.emulator_faults).map_err(|e| CliError::Usage(e.to_string()))?;
    let emu = Emulator::start(Config {
        faults,
        ..Config::default()
    })
    .map_err(|e| CliError::Failed(format!("cannot start the embedded emulator: {e}")))?;
    Ok(Destination {
        base: emu.base_url(),
        token: TokenSource::Fixed(emu.token().to_owned()),
        emulator: Some(emu),
    })
}

/// An ID the command line gave, or, with the embedded emulator, `demo`.
fn id(
    given: &Option<String>,
    flag: &str,
    dest: &Destination,
    demo: &str,
) -> Result<String, CliError> {
    match (given, &dest.emulator) {
        (Some(id), _) => Ok(id.clone()),
        (None, Some(_)) => Ok(demo.to_owned()),
        (None, None) => Err(CliError::Usage(format!("--graph-url needs {flag}"))),
    }
}

/// The core's target for `job`, and, with the emulator, the parent to read the result back
/// from.
pub(crate) fn target(
    job: &Job,
    file: &SourceFile,
    dest: &Destination,
    http: &Http,
) -> Result<(Target, Option<Parent>), CliError> {
    let usage = |e: ConfigError| CliError::Usage(e.to_string());
    let owner = |user: &Option<String>| match (user, &dest.emulator) {
        (Some(_), Some(emu)) => Owner::User(emu.user_id().to_owned()),
        (Some(u), None) => Owner::User(u.clone()),
        (None, _) => Owner::Me,
    };
    Ok(match &job.dest {
        Dest::Todo {
            list,
            task,
            list_name,
            task_title,
            user,
        } => {
            let (list, task) = todo_ids(dest, http, (list, list_name), (task, task_title), user)?;
            let t = Target::todo_task(&dest.base, owner(user), &list, &task).map_err(usage)?;
            (t, Some(Parent::TodoTask { list, task }))
        }
        Dest::Drive {
            drive,
            place,
            conflict,
            defer_commit,
        } => {
            let place = place
                .clone()
                .unwrap_or_else(|| DrivePlace::Path(format!("/{}", file.name())));
            // The emulator's drive holds every folder; its items sit under the path's folder.
            let parent = match &place {
                DrivePlace::Parent { item, .. } => Parent::DriveFolder {
                    folder: item.clone(),
                },
                DrivePlace::Path(path) => {
                    let dirs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                    let mut folder = "root".to_string();
                    for d in &dirs[..dirs.len().saturating_sub(1)] {
                        folder.push('/');
                        folder.push_str(d);
                    }
                    Parent::DriveFolder { folder }
                }
            };
            let mut t =
                Target::drive_item(&dest.base, drive.clone(), place, *conflict).map_err(usage)?;
            if *defer_commit {
                t = t.with_defer_commit().map_err(usage)?;
            }
            (t, Some(parent))
        }
        Dest::Outlook {
            item,
            id: given,
            user,
            content_id,
        } => {
            let item_id = id(given, "--message or --event", dest, "AAMkADemoItem=")?;
            let mut t = Target::outlook_attachment(&dest.base, owner(user), *item, &item_id)
                .map_err(usage)?;
            if let Some(cid) = content_id {
                t = t.with_inline(cid).map_err(usage)?;
            }
            let collection = match item {
                OutlookItem::Message => "messages",
                OutlookItem::Event => "events",
            };
            let parent = Parent::Outlook {
                collection: collection.to_owned(),
                id: item_id,
            };
            (t, Some(parent))
        }
        Dest::Print {
            printer,
            job: print_job,
            document,
        } => {
            let printer = id(printer, "--printer", dest, "demo-printer")?;
            let print_job = id(print_job, "--job", dest, "1")?;
            let document = id(document, "--document", dest, "demo-document")?;
            let t = Target::print_document(&dest.base, &printer, &print_job, &document)
                .map_err(usage)?;
            let parent = Parent::PrintDocument {
                printer,
                job: print_job,
                document,
            };
            (t, Some(parent))
        }
    })
    .map(|(t, parent)| (t, parent.filter(|_| dest.emulator.is_some())))
}
