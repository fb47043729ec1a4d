//! A full disk on demand.

use std::path::PathBuf;
use std::process::Command;

/// A tmpfs of `kib` KiB mounted for the length of a test (a full disk on demand).
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    pub fn mount(tag: &str, kib: u32) -> SmallDisk {
        let path = std::env::temp_dir().join(format!("sd-full-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k,mode=0700"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs (the tests run as root)");
        SmallDisk(path)
    }

    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.0.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(&self.0).unwrap().display().to_string());
                }
            }
        }
        out
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
