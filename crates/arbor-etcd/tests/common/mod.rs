//! Shared by the etcd tests, on top of `arbor-test-kit`: a real etcd (see `etcd.rs`), hosts
//! under supervisors, and an inner runnable that records which hosts run it.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this module

pub mod etcd;
pub mod netns;
pub mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Group, Runnable, Signal, Supervisor};
use arbor_etcd::{Client, Options, Scheduled, View};
use arbor_test_kit::{fast_backoff, root_with, shutdown, DEADLINE};
use tokio::sync::watch;

/// Who runs the work, as the inner runnables report it: updated on every start and stop.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    /// Hosts running the inner runnable now.
    pub running: BTreeSet<String>,
    /// The most hosts ever seen running it at once.
    pub max_at_once: usize,
    /// How many times each host started it.
    pub starts: BTreeMap<String, u32>,
}

/// Records runs of the inner runnable of every host: which hosts run the work, where the kit's
/// `Tracker` records which DNs run in one tree.
#[derive(Clone)]
pub struct HostTracker {
    runs: Arc<watch::Sender<Runs>>,
}

impl HostTracker {
    pub fn new() -> Self {
        HostTracker {
            runs: Arc::new(watch::Sender::new(Runs::default())),
        }
    }

    /// The inner runnable of `host`: records its start, serves until cancelled, records its stop.
    pub fn inner(&self, host: &str) -> impl Runnable {
        self.inner_stopping_in(host, Duration::ZERO)
    }

    /// Like [`inner`](Self::inner), but once cancelled it takes `stopping` to wind down (as a
    /// real service flushing its state would), and only then records its stop.
    pub fn inner_stopping_in(&self, host: &str, stopping: Duration) -> impl Runnable {
        let runs = self.runs.clone();
        let host = host.to_owned();
        move |ctx: Context| {
            let runs = runs.clone();
            let host = host.clone();
            async move {
                runs.send_modify(|r| {
                    assert!(r.running.insert(host.clone()), "{host} runs the work twice");
                    r.max_at_once = r.max_at_once.max(r.running.len());
                    *r.starts.entry(host.clone()).or_default() += 1;
                });
                let _stopped = Stopped { runs, host };
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                if !stopping.is_zero() {
                    tokio::time::sleep(stopping).await;
                }
                Ok(())
            }
        }
    }

    pub fn now(&self) -> Runs {
        self.runs.borrow().clone()
    }

    /// Waits until `want` holds for the runs, at most `within`.
    pub async fn wait(&self, what: &str, within: Duration, want: impl Fn(&Runs) -> bool) -> Runs {
        let mut rx = self.runs.subscribe();
        let found = tokio::time::timeout(within, async {
            rx.wait_for(|r| want(r)).await.map(|runs| runs.clone())
        })
        .await;
        match found {
            Ok(Ok(runs)) => runs,
            Ok(Err(_)) => unreachable!("the tracker owns the sender"),
            Err(_) => panic!("{what}: not within {within:?}; runs now: {:?}", self.now()),
        }
    }
}

struct Stopped {
    runs: Arc<watch::Sender<Runs>>,
    host: String,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        self.runs.send_modify(|r| {
            r.running.remove(&self.host);
        });
    }
}

/// One host: a supervisor with a `Scheduled` job at `root.job`.
pub struct Host {
    pub name: String,
    pub sup: Supervisor,
    pub view: watch::Receiver<View>,
}

/// A client of `endpoints` with timeouts short enough for tests.
pub async fn client(endpoints: Vec<String>) -> Client {
    Client::builder(endpoints)
        .connect_timeout(Duration::from_millis(500))
        .request_timeout(Duration::from_secs(2))
        .connect()
        .await
        .expect("client")
}

/// Starts host `name` of namespace `ns`, running `tracker`'s inner runnable when placed.
pub async fn start_host(
    endpoints: Vec<String>,
    ns: &str,
    name: &str,
    options: Options,
    tracker: &HostTracker,
) -> Host {
    start_host_with(endpoints, ns, name, options, tracker.inner(name)).await
}

/// Starts host `name` of namespace `ns`, running `inner` when placed.
pub async fn start_host_with(
    endpoints: Vec<String>,
    ns: &str,
    name: &str,
    options: Options,
    inner: impl Runnable,
) -> Host {
    start_host_on(client(endpoints).await, ns, name, options, inner)
}

/// Starts host `name` of namespace `ns` on `client`, running `inner` when placed.
pub fn start_host_on(
    client: Client,
    ns: &str,
    name: &str,
    options: Options,
    inner: impl Runnable,
) -> Host {
    let job = Scheduled::new(client, ns, name, options, inner).expect("valid job");
    let view = job.view();
    let sup = supervise_job(job);
    Host {
        name: name.to_owned(),
        sup,
        view,
    }
}

/// A supervisor whose root runs `job` as its child `job` (so its DN is `root.job`), restarted
/// with the kit's fast backoff.
pub fn supervise_job(job: Scheduled) -> Supervisor {
    arbor_test_kit::supervisor_with(
        root_with(move || Group::new().add("job", job.clone())),
        fast_backoff(),
    )
}

impl Host {
    /// Waits until this host's supervisor status satisfies `want`, at most `within`. Notes
    /// change without a state transition, so this asks again after yielding.
    pub async fn wait_status(
        &self,
        what: &str,
        within: Duration,
        want: impl Fn(&arbor::TreeStatus) -> bool,
    ) -> arbor::TreeStatus {
        let wait = async {
            loop {
                let status = self.sup.status().await;
                if want(&status) {
                    break status;
                }
                tokio::task::yield_now().await;
            }
        };
        match tokio::time::timeout(within, wait).await {
            Ok(status) => status,
            Err(_) => panic!(
                "{}: {what}: not within {within:?}:\n{}",
                self.name,
                self.sup.status().await
            ),
        }
    }

    /// Waits until this host's view satisfies `want`, at most `within`.
    pub async fn wait_view(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&View) -> bool,
    ) -> View {
        let name = self.name.clone();
        let view = &mut self.view;
        let found = tokio::time::timeout(within, async {
            view.wait_for(|v| want(v)).await.map(|v| v.clone())
        })
        .await;
        match found {
            Ok(Ok(view)) => view,
            Ok(Err(_)) => panic!("{name}: view closed"),
            Err(_) => panic!(
                "{name}: {what}: not within {within:?}; view now: {}",
                *self.view.borrow()
            ),
        }
    }

    /// Shuts the supervisor down and checks that it stopped cleanly.
    pub async fn stop(self) {
        shutdown(&self.sup).await;
    }
}

/// The mod revision of `key`, read from etcd directly (0 if absent).
pub async fn mod_revision(endpoint: &str, key: &str) -> i64 {
    let mut raw = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("raw client");
    let resp = tokio::time::timeout(DEADLINE, raw.get(key, None))
        .await
        .expect("etcd answers")
        .expect("get");
    resp.kvs().first().map_or(0, |kv| kv.mod_revision())
}

/// Writes `key` directly; returns the revision of the write.
pub async fn put(endpoint: &str, key: &str, value: &str) -> i64 {
    let mut raw = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("raw client");
    let resp = tokio::time::timeout(DEADLINE, raw.put(key, value, None))
        .await
        .expect("etcd answers")
        .expect("put");
    resp.header().expect("header").revision()
}
