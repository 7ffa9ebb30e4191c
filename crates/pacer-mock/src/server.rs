//! The running server: a TCP accept loop handing each connection to hyper's HTTP/1.1
//! machinery (keep-alive on, `TCP_NODELAY`), one task per connection.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::handler::{Shared, handle};
use crate::{MockServerConfig, Stats};

/// How long connections may finish their requests after a shutdown before they are cut.
const GRACE: Duration = Duration::from_secs(1);

/// A running mock of OpenAI's, Anthropic's and Gemini's APIs. Dropping it stops the server too, without waiting.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1` at a port the system picks.
    pub async fn start(config: MockServerConfig) -> io::Result<MockServer> {
        Self::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a server listening on `addr`. Fails on an invalid `config` or when the address
    /// cannot be bound.
    pub async fn bind(addr: SocketAddr, config: MockServerConfig) -> io::Result<MockServer> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (shutdown, stop) = watch::channel(());
        let task = tokio::spawn(accept(listener, Arc::clone(&shared), stop));
        Ok(MockServer {
            addr,
            shared,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL as OpenAI clients take it: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Its base URL as Anthropic clients take it, the host root: `http://127.0.0.1:PORT`.
    pub fn anthropic_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its base URL as Gemini clients take it, up to the API version:
    /// `http://127.0.0.1:PORT/v1beta`.
    pub fn gemini_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// Its counters now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Stops accepting, lets requests in flight finish for up to a second, then stops.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&shared), stop.clone()));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drain).await;
    connections.abort_all();
}

async fn serve(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<()>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handle(Arc::clone(&shared), req));
    let connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
