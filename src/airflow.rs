//! Airflow's REST API, as the watch loop needs it: who is there (version), the DAGs and import
//! errors by file, and a priority reparse of a file. Airflow 3 speaks `/api/v2` with a JWT from
//! `/auth/token`; Airflow 2 speaks `/api/v1` with basic auth.

pub mod incluster;
pub mod pod;
pub mod runs;

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach Airflow at {url}: {message}\n  is it running? `devflow status` shows its components")]
    Unreachable { url: String, message: String },
    #[error("{}", refused(url, user, *status, *refusal))]
    Login { url: String, user: String, status: u16, refusal: Refusal },
    #[error("Airflow answered {what} with {status}: {body}")]
    Status { what: String, status: u16, body: String },
    #[error("Airflow's answer to {what} is not what devflow expects: {message}")]
    Body { what: String, message: String },
}

crate::error::one_kind!(Error, Environment);

/// Why Airflow refused the login, as far as devflow can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The UI's own login form refuses the user and password too.
    WrongPassword,
    /// The UI takes them, but Airflow 2's API refuses basic auth: its `[api] auth_backends`.
    NoBasicAuth,
    /// Neither could be told (Airflow 3's token, or no FAB login form).
    Unknown,
}

fn refused(url: &str, user: &str, status: u16, refusal: Refusal) -> String {
    match refusal {
        Refusal::WrongPassword => format!(
            "Airflow at {url} refused the login of `{user}` ({status}): the user or password is wrong (its login page refuses them too)\n  `devflow creds` prints devflow's; for another Airflow, set AIRFLOW_PASSWORD"
        ),
        Refusal::NoBasicAuth => format!(
            "Airflow at {url} takes the user `{user}` and its password, but its API refuses basic auth ({status})\n  Airflow 2's `[api] auth_backends` defaults to the session backend only (the chart sets none): set it to `{}` (devflow's airflow2 profile does)",
            crate::plan::AIRFLOW2_AUTH_BACKENDS
        ),
        Refusal::Unknown => format!(
            "Airflow at {url} refused the login of `{user}` ({status})\n  check the user and password (`devflow creds` prints devflow's)"
        ),
    }
}

/// One DAG as the API lists it, reduced to what the watch loop compares.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Dag {
    pub dag_id: String,
    /// Relative to the DAG folder (Airflow 3 only).
    pub relative_fileloc: Option<String>,
    /// Where Airflow sees the file (Airflow 2 has only this).
    pub fileloc: Option<String>,
    pub file_token: Option<String>,
    /// RFC 3339; None until first parsed.
    pub last_parsed_time: Option<String>,
    /// Seconds the last parse of the file took, queueing included (Airflow 3 only).
    pub last_parse_duration: Option<f64>,
}

impl Dag {
    /// The file: relative to the DAG folder where Airflow says so, else as Airflow sees it.
    pub fn file(&self) -> Option<&str> {
        self.relative_fileloc.as_deref().or(self.fileloc.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImportError {
    /// Relative to the DAG folder (Airflow 3) or absolute (Airflow 2).
    pub filename: String,
    pub timestamp: String,
    pub stack_trace: String,
}

/// Everything the API says about the DAG folder at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub dags: Vec<Dag>,
    pub errors: Vec<ImportError>,
    /// Airflow's DAG warnings, each as `(dag_id, "type: message")`.
    pub warnings: Vec<(String, String)>,
}

/// A scoped thread's answer; a thread that panicked is a bug in devflow, so its panic goes on.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// Airflow 3: `/api/v2`, a bearer token.
    V2,
    /// Airflow 2: `/api/v1`, basic auth.
    V1,
}

pub struct Client {
    base: String,
    api: Api,
    user: String,
    password: String,
    /// Behind a lock so that the questions of one poll can go out together, each able to renew it.
    token: std::sync::Mutex<Option<String>>,
    agent: ureq::Agent,
    pub version: String,
}

const PAGE: usize = 100;

impl Client {
    /// Finds out which Airflow answers at `base` and logs in.
    pub fn connect(base: &str, user: &str, password: &str) -> Result<Client, Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        let base = base.trim_end_matches('/').to_string();
        let mut client = Client {
            base: base.clone(),
            api: Api::V2,
            user: user.to_string(),
            password: password.to_string(),
            token: std::sync::Mutex::new(None),
            agent,
            version: String::new(),
        };
        // /api/v2/version answers without a login on Airflow 3; Airflow 2 has no /api/v2.
        let (status, body) = client.raw_get("/api/v2/version", false)?;
        if status == 404 {
            client.api = Api::V1;
        } else if status != 200 {
            return Err(Error::Status { what: "GET /api/v2/version".into(), status, body });
        }
        if client.api == Api::V2 {
            client.login()?;
        }
        let path = match client.api {
            Api::V2 => "/api/v2/version",
            Api::V1 => "/api/v1/version",
        };
        let version: serde_json::Value = client.get_json(path)?;
        client.version = version["version"].as_str().unwrap_or_default().to_string();
        if client.api == Api::V1 {
            // Airflow 2's /api/v1/version answers anyone: a listing proves the login works.
            client.get_json::<serde_json::Value>("/api/v1/dags?limit=1")?;
        }
        Ok(client)
    }

    /// Why Airflow 2 refused basic auth. Its answer is 403 whether the password is wrong or the API
    /// takes no basic auth (measured on 2.11.2: the session backend lets the anonymous user through
    /// to the permission check), so devflow asks the UI's FAB login form, which checks the password
    /// alone: a redirect back to `/login/` is a refusal (flask-appbuilder `AuthDBView.login`).
    /// A request refused with 401 or 403, with why as far as devflow can tell.
    fn login_refused(&self, status: u16) -> Error {
        Error::Login { url: self.base.clone(), user: self.user.clone(), status, refusal: self.why_refused() }
    }

    fn why_refused(&self) -> Refusal {
        if self.api == Api::V2 {
            // The login at /auth/token has just succeeded: the password is not what is refused.
            return Refusal::Unknown;
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let url = format!("{}/login/", self.base);
        let Ok(mut page) = agent.get(&url).call() else { return Refusal::Unknown };
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|pair| pair.starts_with("session=")).map(str::to_string));
        let html = page.body_mut().read_to_string().unwrap_or_default();
        let (Some(cookie), Some(csrf)) = (cookie, csrf_token(&html)) else { return Refusal::Unknown };
        let form = [("csrf_token", csrf.as_str()), ("username", &self.user), ("password", &self.password)];
        let Ok(answer) = agent.post(&url).header("Cookie", &cookie).send_form(form) else { return Refusal::Unknown };
        let location = answer.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match answer.status().as_u16() {
            300..=399 if location.contains("/login") => Refusal::WrongPassword,
            300..=399 => Refusal::NoBasicAuth,
            _ => Refusal::Unknown,
        }
    }

    fn login(&self) -> Result<(), Error> {
        let url = format!("{}/auth/token", self.base);
        let body = serde_json::json!({"username": self.user, "password": self.password});
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|e| Error::Unreachable { url: self.base.clone(), message: e.to_string() })?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            // `/auth/token` checks only the user and password (FAB's and the simple auth manager's).
            let refusal = Refusal::WrongPassword;
            return Err(Error::Login { url: self.base.clone(), user: self.user.clone(), status, refusal });
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(Error::Status { what: "POST /auth/token".into(), status, body: text });
        }
        let token: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Body { what: "POST /auth/token".into(), message: e.to_string() })?;
        *self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            token["access_token"].as_str().map(str::to_string);
        Ok(())
    }

    fn raw(&self, method: &str, path: &str, authorised: bool) -> Result<(u16, String), Error> {
        let url = format!("{}{path}", self.base);
        let authorization = self.authorization(authorised);
        let sent = match (method, authorization) {
            ("PUT", Some(a)) => self.agent.put(&url).header("Authorization", &a).send_empty(),
            ("PUT", None) => self.agent.put(&url).send_empty(),
            (_, Some(a)) => self.agent.get(&url).header("Authorization", &a).call(),
            (_, None) => self.agent.get(&url).call(),
        };
        let mut response = sent.map_err(|e| Error::Unreachable { url: self.base.clone(), message: e.to_string() })?;
        let status = response.status().as_u16();
        Ok((status, response.body_mut().read_to_string().unwrap_or_default()))
    }

    /// The Authorization header: the bearer token on Airflow 3, basic auth on Airflow 2.
    fn authorization(&self, authorised: bool) -> Option<String> {
        let token = self.token.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match (authorised, self.api, token) {
            (false, _, _) => None,
            (true, Api::V2, Some(token)) => Some(format!("Bearer {token}")),
            (true, _, _) => Some(format!("Basic {}", basic(&self.user, &self.password))),
        }
    }

    fn raw_get(&self, path: &str, authorised: bool) -> Result<(u16, String), Error> {
        self.raw("GET", path, authorised)
    }

    /// A GET with the login; a token that expired is renewed once.
    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let (mut status, mut body) = self.raw_get(path, true)?;
        // A token Airflow no longer takes (expired, or an api-server restarted with another
        // `[api_auth] jwt_secret` answers 403): log in again, once.
        if (status == 401 || status == 403) && self.api == Api::V2 {
            self.login()?;
            (status, body) = self.raw_get(path, true)?;
        }
        if status == 401 || status == 403 {
            return Err(self.login_refused(status));
        }
        if status != 200 {
            return Err(Error::Status { what: format!("GET {path}"), status, body });
        }
        serde_json::from_str(&body).map_err(|e| Error::Body { what: format!("GET {path}"), message: e.to_string() })
    }

    fn prefix(&self) -> &'static str {
        match self.api {
            Api::V2 => "/api/v2",
            Api::V1 => "/api/v1",
        }
    }

    /// Every DAG, every import error and every DAG warning. The three questions (and the pages
    /// after each first one) go out together: asked one after another, their answers' times add
    /// up to the lag between Airflow recording a parse and the watch reporting it. The DAG
    /// warnings are left empty when Airflow cannot say.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        let prefix = self.prefix();
        std::thread::scope(|scope| {
            let dags = scope.spawn(|| self.all(&format!("{prefix}/dags"), "dags"));
            let errors = scope.spawn(|| self.all(&format!("{prefix}/importErrors"), "import_errors"));
            let warnings = self.dag_warnings().unwrap_or_default();
            Ok(Snapshot { dags: joined(dags)?, errors: joined(errors)?, warnings })
        })
    }

    /// Every item of a paged collection (`{"<key>": [...], "total_entries": N}`): the first page
    /// says how many there are, the others are asked for together.
    fn all<T: serde::de::DeserializeOwned + Send>(&self, path: &str, key: &str) -> Result<Vec<T>, Error> {
        let (mut items, total) = self.page(path, key, 0)?;
        if items.is_empty() || items.len() >= total {
            return Ok(items);
        }
        let offsets: Vec<usize> = (items.len()..total).step_by(items.len()).collect();
        let rest: Vec<Vec<T>> = std::thread::scope(|scope| {
            let pages: Vec<_> = offsets.iter().map(|&at| scope.spawn(move || self.page(path, key, at))).collect();
            pages.into_iter().map(|page| joined(page).map(|(items, _)| items)).collect::<Result<_, _>>()
        })?;
        items.extend(rest.into_iter().flatten());
        Ok(items)
    }

    /// One page of a collection from `offset`, and the collection's total.
    fn page<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        offset: usize,
    ) -> Result<(Vec<T>, usize), Error> {
        let mut page: serde_json::Value = self.get_json(&format!("{path}?limit={PAGE}&offset={offset}"))?;
        let body = |message: String| Error::Body { what: format!("GET {path}"), message };
        let total = page["total_entries"].as_u64().ok_or_else(|| body("no total_entries".into()))? as usize;
        let items = serde_json::from_value(page[key].take()).map_err(|e| body(e.to_string()))?;
        Ok((items, total))
    }

    /// Airflow's DAG warnings (a non-existent pool, an asset conflict, a value that varies at
    /// runtime), each as `(dag_id, "type: message")`.
    fn dag_warnings(&self) -> Result<Vec<(String, String)>, Error> {
        let warnings: Vec<serde_json::Value> = self.all(&format!("{}/dagWarnings", self.prefix()), "dag_warnings")?;
        Ok(warnings
            .iter()
            .map(|w| {
                let text = |key: &str| w[key].as_str().unwrap_or_default().to_string();
                (text("dag_id"), format!("{}: {}", text("warning_type").replace('_', " "), text("message")))
            })
            .collect())
    }

    /// Asks for a reparse of each file in one pass: the requests go out together (a few at a
    /// time), so a branch switch of many known files is queued for the dag-processor in about the
    /// time of one request rather than one after another. The files whose request failed are
    /// counted (they are still followed: Airflow reparses them on its own schedule).
    pub fn reparse_all(&mut self, file_tokens: &[String]) -> usize {
        const AT_ONCE: usize = 8;
        let client = &*self;
        let failed = |chunk: &[String]| {
            std::thread::scope(|scope| {
                let sent: Vec<_> = chunk.iter().map(|token| scope.spawn(move || client.reparse_once(token))).collect();
                sent.into_iter().map(|s| s.join()).filter(|r| !matches!(r, Ok(Ok(())))).count()
            })
        };
        file_tokens.chunks(AT_ONCE).map(failed).sum()
    }

    /// Asks the dag-processor to parse a file now (only files that already have DAGs have a token).
    fn reparse_once(&self, file_token: &str) -> Result<(), Error> {
        let path = format!("{}/parseDagFile/{file_token}", self.prefix());
        let (status, body) = self.raw("PUT", &path, true)?;
        match status {
            200..=299 => Ok(()),
            _ => Err(Error::Status { what: format!("PUT {}/parseDagFile", self.prefix()), status, body }),
        }
    }

    /// Whether the dag-processor reports itself healthy (None when the API does not say).
    pub fn processor_healthy(&mut self) -> Option<bool> {
        let health: serde_json::Value = self.get_json(&format!("{}/monitor/health", self.prefix())).ok()?;
        health["dag_processor"]["status"].as_str().map(|s| s == "healthy")
    }
}

/// The CSRF token in the FAB login form: `<input id="csrf_token" name="csrf_token" type="hidden" value="…">`.
fn csrf_token(html: &str) -> Option<String> {
    let input = html.split("<input").find(|tag| tag.contains("name=\"csrf_token\""))?;
    let value = input.split("value=\"").nth(1)?;
    Some(value.split('"').next()?.to_string())
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// The message and the line in the file itself of an import error's stack trace:
/// `ModuleNotFoundError: No module named 'foo'`, line 3.
pub fn describe_error(stack_trace: &str, file: &str) -> (String, Option<u32>) {
    let message = stack_trace.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string();
    let line = stack_trace.lines().rev().find_map(|l| {
        let rest = l.trim().strip_prefix("File \"")?;
        let (path, tail) = rest.split_once('"')?;
        let number = tail.strip_prefix(", line ")?;
        let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
        (path == file || path.ends_with(&format!("/{file}"))).then(|| digits.parse().ok()).flatten()
    });
    (message, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_and_its_line_come_from_the_files_own_frame() {
        let trace = "Traceback (most recent call last):\n  File \"<frozen importlib._bootstrap>\", line 241, in _call_with_frames_removed\n  File \"/opt/airflow/dags/etl/bad.py\", line 3, in <module>\n    import foo\nModuleNotFoundError: No module named 'foo'\n";
        assert_eq!(describe_error(trace, "etl/bad.py"), ("ModuleNotFoundError: No module named 'foo'".into(), Some(3)));
        let syntax = "Traceback (most recent call last):\n  File \"/tmp/dags/syntax.py\", line 3\n    def x(:\n          ^\nSyntaxError: invalid syntax\n";
        assert_eq!(describe_error(syntax, "syntax.py"), ("SyntaxError: invalid syntax".into(), Some(3)));
        assert_eq!(describe_error("Boom", "x.py"), ("Boom".into(), None));
    }

    #[test]
    fn the_login_forms_csrf_token_is_read_from_its_hidden_input() {
        let html = r#"<form><input id="csrf_token" name="csrf_token" type="hidden" value="IjYy.aw7dzg.iv0P">
            <input type="text" name="username" value=""></form>"#;
        assert_eq!(csrf_token(html).as_deref(), Some("IjYy.aw7dzg.iv0P"));
        assert_eq!(csrf_token("<input name=\"username\">"), None);
    }

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(basic("admin", "admin"), "YWRtaW46YWRtaW4=");
    }
}
