//! The offline commands: `lint`, `sign` and `dev-certs`, all without a server or database.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use pkpass::dev_certs::SignerOptions;
use pkpass::{
    Limits, PassIdentity, PreparedTemplate, Problem, RenderError, RenderInput, SigningError, SigningIdentity,
    SigningMaterial, Template, TemplateError,
};
use serde_json::Value;

/// Arguments of `passmint lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A template folder (e.g. `MyPass.pass/`), a template .zip, or a signed .pkpass (checked as
    /// Wallet would: manifest, signature, chain to Apple's roots, validity, pass.json, images).
    pub path: PathBuf,
    /// Also trust these root certificates (PEM) for a signed pass, e.g. a test chain's.
    #[arg(long, value_name = "ROOT.pem")]
    pub ca: Vec<PathBuf>,
    /// Check a signed .pkpass as a template (its manifest and signature ignored).
    #[arg(long)]
    pub template: bool,
}

/// Arguments of `passmint sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// A template folder or a .zip / .pkpass file.
    pub path: PathBuf,
    /// Where to write the signed pass.
    #[arg(short = 'o', long = "output", value_name = "OUT.pkpass")]
    pub output: PathBuf,
    /// The pass type certificate (PEM); may be left out when --key is a .p12 holding it.
    #[arg(long, value_name = "C")]
    pub cert: Option<PathBuf>,
    /// Its private key: PEM (PKCS#8, PKCS#1, encrypted or not) or a .p12.
    #[arg(long, value_name = "K")]
    pub key: PathBuf,
    /// Apple's WWDR intermediate certificate (PEM).
    #[arg(long, value_name = "W")]
    pub wwdr: PathBuf,
    /// Passphrase of an encrypted key or .p12.
    #[arg(
        long,
        value_name = "P",
        env = "PASSMINT_KEY_PASSPHRASE",
        hide_env_values = true
    )]
    pub passphrase: Option<String>,
    /// Values for the template's {{placeholders}}: inline JSON or a path to a JSON file.
    #[arg(long, value_name = "JSON")]
    pub payload: Option<String>,
    /// Keys merged into the top level of pass.json: inline JSON or a path to a JSON file.
    #[arg(long, value_name = "JSON")]
    pub overrides: Option<String>,
    /// Default: the certificate's UID (Wallet only accepts the certificate's own).
    #[arg(long, value_name = "ID")]
    pub pass_type_identifier: Option<String>,
    /// Default: the certificate's OU.
    #[arg(long, value_name = "T")]
    pub team_identifier: Option<String>,
    /// Default: pass.json's serialNumber, or a new random one if it has none.
    #[arg(long, value_name = "S")]
    pub serial_number: Option<String>,
}

/// Arguments of `passmint dev-certs`.
#[derive(Debug, clap::Args)]
pub struct DevCertsArgs {
    /// Folder to write the chain into (created if needed).
    pub dir: PathBuf,
    /// The pass type identifier in the certificate (subject UID).
    #[arg(long, default_value = "pass.com.example.test")]
    pub pass_type_identifier: String,
    /// The team identifier in the certificate (subject OU).
    #[arg(long, default_value = "TEAM123456")]
    pub team_identifier: String,
    /// Passphrase for the encrypted key files and the .p12.
    #[arg(long, default_value = "passmint-dev-only")]
    pub passphrase: String,
    /// Overwrite a chain already in DIR.
    #[arg(long)]
    pub force: bool,
}

fn print_problems(kind: &str, problems: &[Problem]) {
    for p in problems {
        println!("{kind}: {}: {}", p.location, p.message);
    }
}

/// Reads a template from a folder or a .zip file.
fn read_template(path: &Path, limits: &Limits) -> anyhow::Result<Result<Template, TemplateError>> {
    if path.is_dir() {
        return Ok(Template::from_dir(path, limits));
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Template::from_zip(&bytes, limits))
}

/// `passmint lint PATH`: prints every error and warning; exit 1 when there is an error.
pub fn lint(args: &LintArgs) -> anyhow::Result<ExitCode> {
    // Lint judges any size, and says when the server's default limit would refuse it.
    let limits = Limits {
        max_zip_bytes: u64::MAX,
        ..Limits::default()
    };
    let server_limit = pkpass::template::DEFAULT_MAX_ZIP_BYTES;
    let (result, zip_bytes) = if args.path.is_dir() {
        let result = Template::from_dir(&args.path, &limits);
        // What the upload would weigh: the folder's files zipped as a client would.
        let size = result.as_ref().ok().and_then(|t| {
            let packed =
                pkpass::bundle::PackedFiles::new(t.files().iter().map(|(n, b)| (n.as_str(), b.as_slice())))
                    .ok()?;
            Some(packed.bundle(&[]).len() as u64)
        });
        (result, size)
    } else {
        let bytes =
            std::fs::read(&args.path).with_context(|| format!("cannot read {}", args.path.display()))?;
        if !args.template && pkpass::verify::looks_signed(&bytes) {
            return lint_signed(args, &bytes);
        }
        let size = bytes.len() as u64;
        (Template::from_zip(&bytes, &limits), Some(size))
    };
    let mut size_warning = Vec::new();
    if let Some(size) = zip_bytes.filter(|s| *s > server_limit) {
        size_warning.push(Problem::new(
            args.path.display().to_string(),
            format!(
                "is {}{size} bytes zipped, above passmint serve's default template limit of \
                 {server_limit} bytes: the server answers 413 unless PASSMINT_MAX_TEMPLATE_BYTES is raised",
                if args.path.is_dir() { "about " } else { "" }
            ),
        ));
    }
    match result {
        Ok(template) => {
            print_problems("warning", template.warnings());
            print_problems("warning", &size_warning);
            println!(
                "{}: OK, 0 errors, {} warning(s)",
                args.path.display(),
                template.warnings().len() + size_warning.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(TemplateError::Invalid { findings }) => {
            print_problems("error", &findings.errors);
            print_problems("warning", &findings.warnings);
            print_problems("warning", &size_warning);
            println!(
                "{}: {} error(s), {} warning(s)",
                args.path.display(),
                findings.errors.len(),
                findings.warnings.len() + size_warning.len()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(TemplateError::TooLarge { limit }) => {
            println!("error: {}: larger than {limit} bytes", args.path.display());
            Ok(ExitCode::FAILURE)
        }
        Err(TemplateError::Io(e)) => Err(e).context(format!("cannot read {}", args.path.display())),
    }
}

/// `passmint lint FILE.pkpass` for a signed pass: every problem Wallet would refuse it for.
fn lint_signed(args: &LintArgs, bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut options = pkpass::verify::Options::default();
    for path in &args.ca {
        let pem = read(path, "--ca certificate")?;
        let certs = openssl::x509::X509::stack_from_pem(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .with_context(|| format!("--ca {} holds no PEM certificate", path.display()))?;
        options.extra_roots.extend(certs);
    }
    let findings = pkpass::verify::check(bytes, &options);
    print_problems("error", &findings.errors);
    print_problems("warning", &findings.warnings);
    println!(
        "{}: signed pass, {} error(s), {} warning(s)",
        args.path.display(),
        findings.errors.len(),
        findings.warnings.len()
    );
    Ok(if findings.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Inline JSON, or else the path of a JSON file.
fn json_arg(arg: Option<&str>, what: &str) -> anyhow::Result<Value> {
    let Some(arg) = arg else {
        return Ok(Value::Null);
    };
    if let Ok(value) = serde_json::from_str(arg) {
        return Ok(value);
    }
    let text = std::fs::read_to_string(arg)
        .with_context(|| format!("--{what} is neither JSON nor a readable file: {arg}"))?;
    serde_json::from_str(&text).with_context(|| format!("--{what}: {arg} is not valid JSON"))
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

fn signing_error(e: SigningError) -> anyhow::Error {
    match e {
        SigningError::Invalid(problems) => {
            for p in &problems {
                eprintln!("error: {}: {}", p.field.param(), p.message);
            }
            anyhow::anyhow!(
                "the signing material is not usable ({} problem(s))",
                problems.len()
            )
        }
        other => other.into(),
    }
}

fn load_identity(args: &SignArgs) -> anyhow::Result<SigningIdentity> {
    let key = read(&args.key, "key")?;
    let wwdr = read(&args.wwdr, "WWDR certificate")?;
    let is_pem = key.windows(11).any(|w| w == b"-----BEGIN ");
    if !is_pem && openssl::pkcs12::Pkcs12::from_der(&key).is_ok() {
        return SigningIdentity::from_p12(&key, args.passphrase.as_deref().unwrap_or(""), &wwdr)
            .map_err(signing_error);
    }
    let Some(cert) = &args.cert else {
        bail!("--cert is required unless --key is a .p12 file");
    };
    let cert = read(cert, "certificate")?;
    SigningIdentity::load(SigningMaterial {
        signer_cert: &cert,
        signer_key: &key,
        passphrase: args.passphrase.as_deref(),
        wwdr: &wwdr,
    })
    .map_err(signing_error)
}

/// `passmint sign`: renders the template with the payload, signs it and writes the .pkpass.
pub fn sign(args: &SignArgs) -> anyhow::Result<ExitCode> {
    let template = match read_template(&args.path, &Limits::default())? {
        Ok(t) => t,
        Err(TemplateError::Invalid { findings }) => {
            print_problems("error", &findings.errors);
            print_problems("warning", &findings.warnings);
            bail!(
                "the template has {} error(s); see `passmint lint`",
                findings.errors.len()
            );
        }
        Err(e) => return Err(e).context(format!("cannot read {}", args.path.display())),
    };
    for w in template.warnings() {
        eprintln!("warning: {}: {}", w.location, w.message);
    }
    let payload = json_arg(args.payload.as_deref(), "payload")?;
    let overrides = json_arg(args.overrides.as_deref(), "overrides")?;
    let identity = load_identity(args)?;

    let from_pass = |key: &str| {
        template.pass_json()[key]
            .as_str()
            .filter(|s| !s.contains("{{"))
            .map(str::to_owned)
    };
    let pass_type_identifier = args
        .pass_type_identifier
        .clone()
        .or_else(|| identity.pass_type_identifier())
        .or_else(|| from_pass("passTypeIdentifier"))
        .context("no pass type identifier: give --pass-type-identifier")?;
    let team_identifier = args
        .team_identifier
        .clone()
        .or_else(|| identity.team_identifier())
        .or_else(|| from_pass("teamIdentifier"))
        .context("no team identifier: give --team-identifier")?;
    let problems = identity.check_identifiers(&pass_type_identifier, &team_identifier);
    if !problems.is_empty() {
        return Err(signing_error(SigningError::Invalid(problems)));
    }
    let serial_number = args
        .serial_number
        .clone()
        .or_else(|| from_pass("serialNumber"))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let input = RenderInput {
        payload: &payload,
        overrides: &overrides,
        identity: PassIdentity {
            pass_type_identifier: &pass_type_identifier,
            team_identifier: &team_identifier,
            serial_number: &serial_number,
            web_service: None,
        },
    };
    let pass = match PreparedTemplate::new(template).issue(&input, &identity) {
        Ok(pass) => pass,
        Err(RenderError::MissingPlaceholders(missing)) => {
            for p in &missing {
                eprintln!(
                    "error: {}: no value in --payload for {{{{ {} }}}}",
                    p.location, p.message
                );
            }
            bail!("{} placeholder(s) have no value", missing.len());
        }
        Err(RenderError::InvalidOverrides(problems)) => {
            for p in &problems {
                eprintln!("error: {}: {}", p.location, p.message);
            }
            bail!("the rendered pass is invalid");
        }
        Err(RenderError::Signing(e)) => return Err(signing_error(e)),
    };
    std::fs::write(&args.output, &pass.bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "wrote {} ({} bytes): {pass_type_identifier} / {team_identifier}, serial {serial_number}",
        args.output.display(),
        pass.bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `passmint dev-certs DIR`: a throwaway chain with the key in every format.
pub fn dev_certs(args: &DevCertsArgs) -> anyhow::Result<ExitCode> {
    if args.dir.join("signer.pem").exists() && !args.force {
        bail!(
            "{} already holds a chain; pass --force to replace it",
            args.dir.display()
        );
    }
    let chain = pkpass::dev_certs::generate(&SignerOptions {
        pass_type_identifier: args.pass_type_identifier.clone(),
        team_identifier: args.team_identifier.clone(),
        passphrase: args.passphrase.clone(),
        ..SignerOptions::default()
    })
    .context("generating the certificate chain")?;
    chain
        .write_to(&args.dir)
        .with_context(|| format!("cannot write to {}", args.dir.display()))?;
    println!(
        "wrote a throwaway chain to {} (NOT FOR PRODUCTION): root.pem wwdr.pem signer.pem \
         signer.key signer.pkcs8.key signer.legacy.key signer.p12; passphrase: {}",
        args.dir.display(),
        args.passphrase
    );
    println!(
        "certificate: UID={} OU={}",
        args.pass_type_identifier, args.team_identifier
    );
    Ok(ExitCode::SUCCESS)
}
