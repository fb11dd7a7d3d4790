//! A local HTTP server for the fakes: bound to 127.0.0.1 on a free port, stopped on drop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

const BIND_LIMIT: Duration = Duration::from_secs(10);
const BIND_POLL: Duration = Duration::from_millis(50);

pub(crate) struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    pub(crate) async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for a fake server");
        Self::serve(listener, router)
    }

    /// Serves on `127.0.0.1:<port>` (a port reserved earlier with [`reserve_port`]); retries the
    /// bind for a while in case the port is still being released.
    pub(crate) async fn start_on(port: u16, router: Router) -> Self {
        let deadline = Instant::now() + BIND_LIMIT;
        loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => return Self::serve(listener, router),
                Err(err) if Instant::now() >= deadline => {
                    panic!("cannot bind 127.0.0.1:{port} for a fake server: {err}")
                }
                Err(_) => sleep(BIND_POLL).await,
            }
        }
    }

    fn serve(listener: TcpListener, router: Router) -> Self {
        let addr = listener
            .local_addr()
            .expect("local address of a fake server");
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("fake server stopped with an error");
        });
        Self { addr, task }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A free local port, not listened on: connections to it are refused until a server starts on
/// it (a fake with [`LocalServer::start_on`], or wrangler).
///
/// Taken below the kernel's ephemeral range (`ip_local_port_range`, 32768-60999 by default), so
/// nothing else can be handed it before the server binds: a port from `bind(":0")` could be given
/// to another test's `bind(":0")` or outgoing connection in the meantime. Each call in this
/// process gets another port; processes start at different places in the range.
pub(crate) fn reserve_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(97) % COUNT;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < COUNT,
            "no free local port left below the ephemeral range"
        );
        let port = u16::try_from(FIRST + (start + n) % COUNT).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reserve_port;

    #[test]
    fn reserved_ports_are_free_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..20).map(|_| reserve_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!((20_000..32_000).contains(&port), "{port}");
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "{port}"
            );
        }
    }
}
