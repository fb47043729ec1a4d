//! TLS material made with openssl for a TLS engine on 127.0.0.1: a CA, the engine's certificate
//! (for IP 127.0.0.1 only), a client certificate from the same CA, and a stranger's from another
//! CA. `good/`, `stranger/` and `wrong_ca/` are DOCKER_CERT_PATH-style directories.

use std::path::PathBuf;
use std::process::Command;

pub struct Certs {
    pub dir: PathBuf,
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

impl Certs {
    pub fn make(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("sd-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for ca in ["ca", "otherca"] {
            openssl(
                &dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}-key.pem"),
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=sdt-{ca}"),
                    "-out",
                    &format!("{ca}.pem"),
                ],
            );
        }
        let leaf = |name: &str, ca: &str, ext: &str| {
            std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
            openssl(
                &dir,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}-key.pem"),
                    "-subj",
                    &format!("/CN={name}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{ca}.pem"),
                    "-CAkey",
                    &format!("{ca}-key.pem"),
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                    "-out",
                    &format!("{name}-cert.pem"),
                ],
            );
        };
        // 10.231.9.1: a veth address of a test's network namespace pair (an engine on this machine
        // that is not on its loopback, as a server's would be).
        leaf("server", "ca", "subjectAltName=IP:127.0.0.1,IP:10.231.9.1\nextendedKeyUsage=serverAuth\n");
        leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
        leaf("stranger", "otherca", "extendedKeyUsage=clientAuth\n");
        for (sub, ca, who) in
            [("good", "ca", "client"), ("stranger", "ca", "stranger"), ("wrong_ca", "otherca", "client")]
        {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(dir.join(format!("{ca}.pem")), d.join("ca.pem")).unwrap();
            std::fs::copy(dir.join(format!("{who}-cert.pem")), d.join("cert.pem")).unwrap();
            std::fs::copy(dir.join(format!("{who}-key.pem")), d.join("key.pem")).unwrap();
        }
        Certs { dir }
    }

    /// dockerd arguments for a TLS listener on 127.0.0.1:`port` that verifies clients.
    pub fn dockerd_args(&self, port: u16) -> Vec<String> {
        self.dockerd_args_at("127.0.0.1", port)
    }

    pub fn dockerd_args_at(&self, addr: &str, port: u16) -> Vec<String> {
        let p = |f: &str| self.dir.join(f).display().to_string();
        vec![
            "-H".into(),
            format!("tcp://{addr}:{port}"),
            "--tlsverify".into(),
            "--tlscacert".into(),
            p("ca.pem"),
            "--tlscert".into(),
            p("server-cert.pem"),
            "--tlskey".into(),
            p("server-key.pem"),
        ]
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
