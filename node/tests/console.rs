//! The web console in a real browser: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`) against a real three-node cluster.
//!
//! node0 votes YES by policy and serves the browser; node1 votes only when the test tells
//! it to, so a proposal stays pending until then and the page can be seen turning
//! approved; node2 always votes NO, so with a small health window it becomes degraded.
//! Screenshots of every page go to `$SWARMVOTE_SCREENSHOTS` (default: a temp dir removed
//! at the end). Without chromium or chromedriver the test is skipped, except under `CI`,
//! where that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use swarmvote_node::dev::cluster::{ApiClient, free_port, wait_for};

mod common;
use common::{DEADLINE, cluster_with, ready_all};

const HEALTH: &str = "[health]\nwindow = 4\ndissent_fraction = 0.5\nmissed_fraction = 1.0\n\
                      degrade_after = 1\nrecover_after = 1\ngrace_ms = 200\n";

fn policy(vote: &str) -> String {
    format!(
        "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"ops.*\"\n\
         vote = \"{vote}\"\nreason = \"console test: always {vote}\"\n"
    )
}

/// chromedriver on a free port, in its own process group with the browsers it starts;
/// the whole group is killed (and chromedriver reaped) when dropped, panics included,
/// and its temp dir (Chromium's scratch files) removed.
struct Driver {
    child: Child,
    port: u16,
    _tmp: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(program: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let driver = Self {
            child,
            port,
            _tmp: tmp,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        wait_for("chromedriver ready", DEADLINE, || {
            Ok(agent
                .get(format!("http://127.0.0.1:{port}/status"))
                .call()
                .ok()
                .filter(|r| r.status() == 200))
        })
        .unwrap();
        driver
    }
}

/// The first of `names` that is an executable file on `PATH` (or an absolute path).
fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|n| {
        let direct = Path::new(n);
        if direct.is_absolute() {
            return direct.is_file().then(|| direct.to_path_buf());
        }
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// Where screenshots go, and the temp dir to remove at the end if none was asked for.
fn screenshot_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("SWARMVOTE_SCREENSHOTS").filter(|v| !v.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            std::fs::create_dir_all(&d).unwrap();
            (d, None)
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_path_buf(), Some(t))
        }
    }
}

async fn shot(browser: &Client, dir: &Path, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits (up to the deadline) for an element matching `css`.
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    match browser
        .wait()
        .at_most(DEADLINE)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let page = browser.source().await.unwrap_or_default();
            panic!("no element {css}: {e}\npage:\n{page}");
        }
    }
}

async fn visible(browser: &Client, css: &str) -> bool {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
}

/// Types `token` into the login form and submits it.
async fn log_in(browser: &Client, token: &str) {
    let input = element(browser, "#token").await;
    input.clear().await.unwrap();
    input.send_keys(token).await.unwrap();
    browser
        .find(Locator::Id("login-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn propose(api: &ApiClient, mode: &str) -> String {
    api.propose(
        "ops.restart",
        json!({ "service": "web", "mode": mode }),
        60_000,
    )
    .unwrap()
}

/// node1's YES, once the proposal has reached it.
fn vote_yes(node1: &ApiClient, id: &str) {
    wait_for(&format!("{id} at node1"), DEADLINE, || node1.proposal(id)).unwrap();
    let (status, answer) = node1.vote(id, "yes").unwrap();
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_logs_in_follows_proposals_live_and_flags_a_degraded_voter() {
    let chromium = find_tool(&["chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = find_tool(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium or chromedriver is not installed");
        return;
    };
    let (shots, _shots_tmp) = screenshot_dir();

    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster_with(dir.path(), 3, "2/3", &|i| match i {
        // node0 runs what it proposes, so its proposals get a signed receipt.
        0 => format!(
            "{}{HEALTH}[[executor.actions]]\naction = \"ops.*\"\ncommand = [\"/bin/echo\", \"restarted\"]\n",
            policy("yes")
        ),
        2 => format!("{}{HEALTH}", policy("no")),
        _ => HEALTH.to_owned(),
    });
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    let token = std::fs::read_to_string(c.nodes[0].dir.join("data/api.cookie")).unwrap();
    let base = format!("http://{}", c.nodes[0].api);

    let driver = Driver::start(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--window-size=1440,1500", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let browser = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap();

    // A wrong token: the login page again, with the error, and no console.
    browser.goto(&format!("{base}/ui")).await.unwrap();
    element(&browser, "#login:not([hidden])").await;
    shot(&browser, &shots, "01-login").await;
    log_in(&browser, "not-the-token").await;
    let error = element(&browser, "#login-error:not([hidden])").await;
    assert_eq!(error.text().await.unwrap(), "Wrong token.");
    assert!(
        !visible(&browser, "#top").await,
        "the console shows after a wrong token"
    );
    shot(&browser, &shots, "02-login-wrong-token").await;

    // The right token: the proposals page.
    log_in(&browser, token.trim()).await;
    element(&browser, "#proposal-rows").await;
    element(&browser, "#live.on").await;
    // A marker that a reload would wipe.
    browser
        .execute("window.__sameDocument = true;", vec![])
        .await
        .unwrap();

    // A proposal made through the API shows up pending, then approved, live.
    let id = propose(&api[0], "first");
    element(
        &browser,
        &format!("tr[data-id='{id}'][data-status='pending']"),
    )
    .await;
    vote_yes(&api[1], &id);
    element(
        &browser,
        &format!("tr[data-id='{id}'][data-status='approved']"),
    )
    .await;
    let same = browser
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same, json!(true), "the page was reloaded");
    shot(&browser, &shots, "03-proposals").await;

    // The whole history (read from the store) lists it too.
    browser
        .find(Locator::Css("#filter-history"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    element(&browser, "#filter-history:checked").await;
    element(
        &browser,
        &format!("tr[data-id='{id}'][data-status='approved']"),
    )
    .await;

    // The proposal's page: its three ballots (node2's NO with its reason), the valid
    // certificate and its download link.
    browser
        .find(Locator::Css(&format!("tr[data-id='{id}'] a")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    element(&browser, "#proposal-status[data-status='approved']").await;
    let ballots = browser
        .find_all(Locator::Css("#ballots tr[data-voter]"))
        .await
        .unwrap();
    assert_eq!(ballots.len(), 3);
    let no = element(&browser, "#ballots tr[data-voter='node2'][data-vote='no']").await;
    assert!(no.text().await.unwrap().contains("console test: always no"));
    let cert = element(&browser, "#certificate[data-valid='true']").await;
    assert!(cert.text().await.unwrap().contains("VALID"));
    let href = element(&browser, "#certificate-download")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.ends_with(&format!("/v1/proposals/{id}/certificate")));
    // node0 ran it: its signed receipt shows, backed by the certificate.
    let receipt = element(&browser, "#execution .receipt[data-standing='backed']").await;
    assert!(
        receipt
            .text()
            .await
            .unwrap()
            .contains("/bin/echo restarted")
    );
    browser
        .execute(
            "document.querySelector('#execution').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    shot(&browser, &shots, "04b-execution-and-receipt").await;
    shot(&browser, &shots, "04-proposal").await;

    // node2 dissented once; a second dissent over the window of 4 degrades it.
    let second = propose(&api[0], "second");
    vote_yes(&api[1], &second);
    browser.goto(&format!("{base}/ui#/voters")).await.unwrap();
    element(&browser, "tr[data-voter='node2'][data-degraded='true']").await;
    let row = element(&browser, "tr[data-voter='node2']").await;
    assert!(row.text().await.unwrap().contains("dissent"));
    element(&browser, "tr[data-voter='node0'][data-degraded='false']").await;
    element(&browser, "tr[data-voter='node2'] svg.chart rect.dissent").await;
    shot(&browser, &shots, "05-voters").await;

    browser.goto(&format!("{base}/ui#/peers")).await.unwrap();
    element(&browser, "main h1").await;
    shot(&browser, &shots, "06-peers").await;
    browser.goto(&format!("{base}/ui#/node")).await.unwrap();
    element(&browser, "main .grid2").await;
    shot(&browser, &shots, "07-node").await;

    // A cookie with a bad (or expired: the node has a new token) token: the login page
    // with a message, not a blank page.
    browser.delete_all_cookies().await.unwrap();
    // SameSite=Strict as the node sets it (WebDriver's default, None, needs Secure).
    let bad = fantoccini::cookies::Cookie::parse(
        "swarmvote_token=expired-token; Domain=127.0.0.1; Path=/; SameSite=Strict; HttpOnly",
    )
    .unwrap();
    browser.add_cookie(bad).await.unwrap();
    browser.refresh().await.unwrap();
    let error = element(&browser, "#login-error:not([hidden])").await;
    assert!(error.text().await.unwrap().contains("token was refused"));
    assert!(!visible(&browser, "#top").await);
    shot(&browser, &shots, "08-login-expired").await;

    browser.close().await.unwrap();
    drop(driver);
    c.stop_all(Duration::from_secs(10)).unwrap();
}
