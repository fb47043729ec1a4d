//! A compose project of the test's own, run with the real docker-compose from a directory of
//! its own (its files and `.env` written by the test); `down` on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Compose {
    pub name: String,
    pub dir: PathBuf,
}

impl Compose {
    /// Write `yaml` as the project's docker-compose.yml (and `env` as its .env), then `up -d`.
    pub fn up(name: &str, yaml: &str, env: Option<&str>) -> Compose {
        let name = format!("{name}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("sd-compose-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("docker-compose.yml"), yaml).unwrap();
        if let Some(e) = env {
            std::fs::write(dir.join(".env"), e).unwrap();
        }
        let c = Compose { name, dir };
        c.run(&["up", "-d"]);
        c
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// docker-compose in the project's directory (as an operator runs it there).
    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("docker-compose")
            .current_dir(&self.dir)
            .arg("-p")
            .arg(&self.name)
            .args(args)
            .env_remove("W_TAG")
            .output()
            .unwrap();
        assert!(o.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn container(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .current_dir(&self.dir)
            .arg("-p")
            .arg(&self.name)
            .args(["down", "-v", "-t", "1"])
            .output();
        // A test that failed with its file broken: compose cannot read it; remove by label.
        let label = format!("label=com.docker.compose.project={}", self.name);
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &label])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        for id in String::from_utf8_lossy(&ids).split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-fv", id]).output();
        }
        let _ = Command::new("docker").args(["network", "rm", &format!("{}_default", self.name)]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Tag a copy of `base` as `reference`, made distinct by a label (its own image id).
pub fn distinct_image(base: &str, reference: &str) {
    let dir =
        std::env::temp_dir().join(format!("sd-img-{}-{}", std::process::id(), reference.replace([':', '/'], "_")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), format!("FROM {base}\nLABEL sd.test.ref=\"{reference}\"\n")).unwrap();
    let o = Command::new("docker").args(["build", "-q", "-t", reference]).arg(&dir).output().unwrap();
    assert!(o.status.success(), "docker build {reference}: {}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
