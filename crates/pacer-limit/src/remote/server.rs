//! A throwaway `redis-server` on a free loopback port, for tests and benchmarks: Debian's
//! (or any) `redis-server` on the `PATH`, nothing saved to disk, stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` this process started.
#[derive(Debug)]
pub struct TestServer {
    port: u16,
    child: Option<Child>,
}

impl TestServer {
    /// Starts one, or says why it cannot: `redis-server` is not installed, or did not come
    /// up. Tests skip with that message unless `PACER_REQUIRE_REDIS` is set (as CI does),
    /// when they fail with it.
    pub fn start() -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let mut server = Self { port, child: None };
        server.restart()?;
        Ok(server)
    }

    /// [`start`](Self::start) for a test: `None` (with the reason on stderr) where
    /// `redis-server` is absent and `PACER_REQUIRE_REDIS` is unset.
    ///
    /// # Panics
    ///
    /// When the server cannot start and `PACER_REQUIRE_REDIS` is set.
    pub fn for_test() -> Option<Self> {
        match Self::start() {
            Ok(server) => Some(server),
            Err(why) if std::env::var_os("PACER_REQUIRE_REDIS").is_some() => {
                panic!("PACER_REQUIRE_REDIS is set, but {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why} (install redis-server to run this test)");
                None
            }
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it (`SIGKILL`): clients see the connection drop and refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty (nothing was saved).
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("redis-server exited at once ({status})"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not accept connections within 10 s".into())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
