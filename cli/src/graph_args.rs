//! The command line of `graph-upload`: one subcommand per Graph destination
//! (docs/protocol.md §8), the options every one of them takes.
//!
//! ```text
//! graph-upload todo  --list ID --task ID [--user ID]                                  FILE
//! graph-upload drive (--path /folder/name.ext | --parent ITEM-ID [--name NAME])
//!                    [--drive ID | --user ID | --group ID | --site ID] [--conflict fail|replace|rename] FILE
//!                    [--defer-commit]
//! graph-upload mail  --message ID [--user ID] [--inline --content-id CID]              FILE
//! graph-upload event --event ID [--user ID]                                           FILE
//! graph-upload print --printer ID --job ID --document ID                              FILE
//! ```

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use upload_session::{Conflict, Drive, DrivePlace, OutlookItem};

use crate::args::Tuning;
use crate::job::{Dest, Job, JsonShape};
use crate::token::{Secret, TokenSource};
use crate::CliError;

/// Upload a file to Microsoft Graph through a resumable upload session: a To Do task's
/// attachment, a OneDrive or SharePoint file, an Outlook message's or event's attachment, or
/// a Universal Print document.
///
/// Without --graph-url, an emulated Graph is started on 127.0.0.1 and the file goes there,
/// then is read back and compared with the file.
#[derive(Parser, Debug, Clone)]
#[command(name = "graph-upload", version)]
pub struct GraphArgs {
    /// Where the file goes.
    #[command(subcommand)]
    pub target: Target,
}

/// The destinations.
#[derive(Subcommand, Debug, Clone)]
pub enum Target {
    /// A Microsoft To Do task's attachment.
    Todo {
        /// The list's ID (this or --list-name with --graph-url).
        #[arg(long, value_name = "ID", conflicts_with = "list_name")]
        list: Option<String>,
        /// The task's ID (this or --task-title with --graph-url).
        #[arg(long, value_name = "ID", conflicts_with = "task_title")]
        task: Option<String>,
        /// The list by its name, looked up on Graph.
        #[arg(long, value_name = "NAME")]
        list_name: Option<String>,
        /// The task by its title, looked up in the list on Graph.
        #[arg(long, value_name = "TITLE")]
        task_title: Option<String>,
        /// The user who owns the task (default: the signed-in user).
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// The options every destination takes.
        #[command(flatten)]
        common: Common,
    },
    /// A OneDrive or SharePoint file, by path or by parent folder and name.
    Drive {
        /// The file's path from the drive's root, e.g. /Documents/report.pdf (default: the
        /// file's name at the root).
        #[arg(long, value_name = "PATH", conflicts_with = "parent")]
        path: Option<String>,
        /// The parent folder's item ID.
        #[arg(long, value_name = "ITEM-ID")]
        parent: Option<String>,
        /// The name in the parent folder (default: the file's name).
        #[arg(long, value_name = "NAME", requires = "parent")]
        name: Option<String>,
        /// A drive by ID.
        #[arg(long, value_name = "ID", group = "drive_of")]
        drive: Option<String>,
        /// A user's drive.
        #[arg(long, value_name = "ID", group = "drive_of")]
        user: Option<String>,
        /// A group's drive.
        #[arg(long, value_name = "ID", group = "drive_of")]
        group: Option<String>,
        /// A SharePoint site's drive.
        #[arg(long, value_name = "ID", group = "drive_of")]
        site: Option<String>,
        /// What to do when the name is taken.
        #[arg(long, value_enum, default_value_t = ConflictArg::Fail)]
        conflict: ConflictArg,
        /// Make the item only once every byte is in, by an explicit commit (deferCommit).
        #[arg(long)]
        defer_commit: bool,
        /// The options every destination takes.
        #[command(flatten)]
        common: Common,
    },
    /// An Outlook message's attachment.
    Mail {
        /// The message's ID (required with --graph-url).
        #[arg(long, value_name = "ID")]
        message: Option<String>,
        /// The mailbox's user (default: the signed-in user).
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// An inline attachment, shown in the message body (needs --content-id).
        #[arg(long, requires = "content_id")]
        inline: bool,
        /// The content ID the body's cid: references name.
        #[arg(long, value_name = "CID", requires = "inline")]
        content_id: Option<String>,
        /// The options every destination takes.
        #[command(flatten)]
        common: Common,
    },
    /// An Outlook event's attachment.
    Event {
        /// The event's ID (required with --graph-url).
        #[arg(long, value_name = "ID")]
        event: Option<String>,
        /// The calendar's user (default: the signed-in user).
        #[arg(long, value_name = "ID")]
        user: Option<String>,
        /// The options every destination takes.
        #[command(flatten)]
        common: Common,
    },
    /// A Universal Print document.
    Print {
        /// The printer's ID (required with --graph-url).
        #[arg(long, value_name = "ID")]
        printer: Option<String>,
        /// The print job's ID (required with --graph-url).
        #[arg(long, value_name = "ID")]
        job: Option<String>,
        /// The document's ID (required with --graph-url).
        #[arg(long, value_name = "ID")]
        document: Option<String>,
        /// The options every destination takes.
        #[command(flatten)]
        common: Common,
    },
    /// Print a shell completion script: `graph-upload completions bash > ~/.local/share/bash-completion/completions/graph-upload`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `--conflict`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictArg {
    /// Fail, overwriting nothing.
    Fail,
    /// Replace the item.
    Replace,
    /// Give the new item a free name.
    Rename,
}

/// The options every destination takes.
#[derive(ClapArgs, Debug, Clone)]
pub struct Common {
    /// The files to upload; several go --parallel at a time.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Graph base URL including the version, e.g. https://graph.microsoft.com/v1.0.
    /// Absent: an embedded emulator on 127.0.0.1.
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,

    /// Bearer token for Graph (this or --token-command with --graph-url). Never printed or
    /// saved, and never sent to an upload host.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "GRAPH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<Secret>,

    /// A shell command that prints the bearer token, run at start and whenever the server
    /// refuses the token, e.g. `az account get-access-token --resource-type ms-graph --query
    /// accessToken -o tsv`.
    #[arg(
        long,
        value_name = "CMD",
        env = "GRAPH_TOKEN_COMMAND",
        conflicts_with = "token"
    )]
    pub token_command: Option<String>,

    /// How many files upload at once.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,

    /// Bytes per PUT (default and limits: the destination's; a drive item's are multiples
    /// of 327,680).
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,

    /// Save the session here after every acknowledged chunk (never the token); if the file
    /// exists, resume from it. Removed after success. A directory (required with several
    /// files) holds one state file per file.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// With --state: delete the saved session on the server and remove the state file.
    #[arg(long, requires = "state")]
    pub cancel: bool,

    /// Always use an upload session, never the one-request path for small files.
    #[arg(long)]
    pub session_only: bool,

    /// Print one JSON object on stdout at the end: target, id, location, size, requests,
    /// sessions, and quick_xor_hash and web_url for a drive item.
    #[arg(long)]
    pub json: bool,

    /// One line per request and answer on stderr (URL queries redacted, never the token).
    #[arg(short, long)]
    pub verbose: bool,

    /// Options for tests and benchmarks, hidden from `--help`.
    #[command(flatten)]
    pub tuning: Tuning,
}

impl GraphArgs {
    /// The upload this command line describes; a usage error when its parts do not fit.
    pub fn to_jobs(&self) -> Result<Batch, CliError> {
        let (dest, common) = match &self.target {
            Target::Completions { .. } => {
                return Err(CliError::Usage("completions upload nothing".into()))
            }
            Target::Todo {
                list,
                task,
                list_name,
                task_title,
                user,
                common,
            } => (
                Dest::Todo {
                    list: list.clone(),
                    task: task.clone(),
                    list_name: list_name.clone(),
                    task_title: task_title.clone(),
                    user: user.clone(),
                },
                common,
            ),
            Target::Drive {
                path,
                parent,
                name,
                drive,
                user,
                group,
                site,
                conflict,
                defer_commit,
                common,
            } => {
                let drive = match (drive, user, group, site) {
                    (Some(d), ..) => Drive::Id(d.clone()),
                    (_, Some(u), ..) => Drive::User(u.clone()),
                    (_, _, Some(g), _) => Drive::Group(g.clone()),
                    (_, _, _, Some(s)) => Drive::Site(s.clone()),
                    _ => Drive::Me,
                };
                let file_name = || {
                    common
                        .files
                        .first()
                        .and_then(|f| f.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                let place = match (path, parent) {
                    (Some(p), _) => Some(DrivePlace::Path(p.clone())),
                    (None, Some(item)) => Some(DrivePlace::Parent {
                        item: item.clone(),
                        name: name.clone().unwrap_or_else(file_name),
                    }),
                    (None, None) if common.graph_url.is_some() => {
                        return Err(CliError::Usage(
                            "drive needs --path or --parent with --graph-url".into(),
                        ))
                    }
                    (None, None) => None,
                };
                let conflict = match conflict {
                    ConflictArg::Fail => Conflict::Fail,
                    ConflictArg::Replace => Conflict::Replace,
                    ConflictArg::Rename => Conflict::Rename,
                };
                (
                    Dest::Drive {
                        drive,
                        place,
                        conflict,
                        defer_commit: *defer_commit,
                    },
                    common,
                )
            }
            Target::Mail {
                message,
                user,
                content_id,
                common,
                ..
            } => (
                Dest::Outlook {
                    item: OutlookItem::Message,
                    id: message.clone(),
                    user: user.clone(),
                    content_id: content_id.clone(),
                },
                common,
            ),
            Target::Event {
                event,
                user,
                common,
            } => (
                Dest::Outlook {
                    item: OutlookItem::Event,
                    id: event.clone(),
                    user: user.clone(),
                    content_id: None,
                },
                common,
            ),
            Target::Print {
                printer,
                job,
                document,
                common,
            } => (
                Dest::Print {
                    printer: printer.clone(),
                    job: job.clone(),
                    document: document.clone(),
                },
                common,
            ),
        };
        let several = common.files.len() > 1;
        if several {
            // Each file once, each name once: two uploads to one name would take each
            // other's result for their own, or replace one another.
            let mut seen_paths = std::collections::HashSet::new();
            let mut seen_names = std::collections::HashSet::new();
            for file in &common.files {
                let full = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
                if !seen_paths.insert(full) {
                    return Err(CliError::Usage(format!(
                        "{} is given twice",
                        file.display()
                    )));
                }
                let name = file.file_name().map(|n| n.to_string_lossy().to_lowercase());
                if !seen_names.insert(name) {
                    return Err(CliError::Usage(format!(
                        "two files are called {:?}: the destination takes one item of a name",
                        file.file_name().unwrap_or_default()
                    )));
                }
            }
            // One name for one item: several files cannot share it.
            let single = match &dest {
                Dest::Drive {
                    place: Some(DrivePlace::Path(_)),
                    ..
                } => Some("--path"),
                Dest::Print { .. } => Some("a print document"),
                _ => None,
            };
            if let Some(what) = single {
                return Err(CliError::Usage(format!("{what} takes one file")));
            }
            if let (Target::Drive { name: Some(_), .. }, true) = (&self.target, several) {
                return Err(CliError::Usage("--name takes one file".into()));
            }
        }
        let token = match (&common.token, &common.token_command) {
            (Some(t), _) => Some(TokenSource::Fixed(t.expose().to_owned())),
            (None, Some(c)) => Some(TokenSource::command(c.clone())),
            (None, None) => None,
        };
        let state_dir = match &common.state {
            Some(p) if several || p.is_dir() => Some(p.clone()),
            _ => None,
        };
        let jobs = common
            .files
            .iter()
            .map(|file| {
                let mut dest = dest.clone();
                // Several files to a parent folder: each under its own name.
                if let Dest::Drive {
                    place: Some(DrivePlace::Parent { name, .. }),
                    ..
                } = &mut dest
                {
                    if several {
                        *name = file
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                    }
                }
                let state = match &state_dir {
                    Some(dir) => Some(dir.join(state_file_name(file))),
                    None => common.state.clone(),
                };
                self.job(file, dest, common, token.clone(), state, several)
            })
            .collect();
        Ok(Batch {
            jobs,
            parallel: usize::from(common.parallel),
            state_dir,
        })
    }

    fn job(
        &self,
        file: &std::path::Path,
        dest: Dest,
        common: &Common,
        token: Option<TokenSource>,
        state: Option<PathBuf>,
        several: bool,
    ) -> Job {
        Job {
            program: "graph-upload",
            file: file.to_owned(),
            dest,
            graph_url: common.graph_url.clone(),
            token,
            chunk_size: common.chunk_size,
            state,
            name_files: several,
            session_only: common.session_only,
            json: common.json,
            json_shape: JsonShape::Graph,
            cancel: common.cancel,
            verbose: common.verbose,
            timeout_ms: common.tuning.timeout_ms,
            retry_initial_ms: common.tuning.retry_initial_ms,
            size_limit: common.tuning.size_limit,
            emulator_faults: common.tuning.emulator_faults.clone(),
        }
    }
}

/// The uploads one command line asks for.
#[derive(Debug, Clone)]
pub struct Batch {
    /// One per file, in the order given.
    pub jobs: Vec<Job>,
    /// How many run at once.
    pub parallel: usize,
    /// The directory that holds one state file per file, if `--state` named one.
    pub state_dir: Option<PathBuf>,
}

/// The state file of `file` in a `--state` directory: its name and a hash of its full path,
/// so that two files of one name in different folders keep apart.
fn state_file_name(file: &std::path::Path) -> String {
    let full = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in full.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // A file name has 255 bytes at most: a long name is cut (the hash keeps it apart).
    let name: String = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= 160).then_some(c)
        })
        .collect();
    format!("{name}.{h:016x}.upload-state")
}
