//! A local HTTP server for the fakes: bound to 127.0.0.1 on a free port, stopped on drop.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub(crate) struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    pub(crate) async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port for a fake server");
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
