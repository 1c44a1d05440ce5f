//! The real `recast serve` binary for the serving benches: started on a loopback port with
//! the bench's database and lake, stopped with SIGTERM (then SIGKILL) when dropped.
#![allow(dead_code)] // each bench includes this file and uses part of it

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `recast serve` in `dir` on `127.0.0.1:port`, without the scheduler.
pub fn serve(dir: &std::path::Path, database_url: &str, lake_url: &str, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_recast"))
        .arg("serve")
        .current_dir(dir)
        .env_remove("RECAST_CONFIG")
        .env("RECAST_DATABASE_URL", database_url)
        .env("RECAST_LAKE_URL", lake_url)
        .env("RECAST_LISTEN", format!("127.0.0.1:{port}"))
        .env("RECAST_LOG_LEVEL", "warn")
        .env("RECAST_SCHEDULER_ENABLED", "false")
        .stdout(Stdio::null())
        .spawn()
        .expect("start recast serve");
    Server(child)
}
