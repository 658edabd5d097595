//! `poolcast merge`: combines the run directories of `poolcast run --shard
//! i/n` into one run directory, after checking that every shard of the same
//! manifest is there and every job finished. `poolcast run` on the merged
//! directory then reuses those simulations and does the rest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cache;
use crate::run::{RunInfo, ShardRecord, read_run_info, record_name};
use crate::simjob::read_json;

/// Options of `poolcast merge`.
#[derive(clap::Args, Debug, Clone)]
pub struct MergeArgs {
    /// The shards' run directories (`<out>/<experiment>/<run-id>` of each
    /// `poolcast run --shard i/n`).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Parent of the experiment directories of the merged run.
    #[arg(long, short, default_value = "runs")]
    pub out: PathBuf,
    /// Name of the merged run directory (default: the shards' run id).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

fn records(dir: &Path) -> Result<Vec<ShardRecord>> {
    let sd = dir.join("shards");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(&sd) else {
        bail!(
            "{}: no shards/ directory: was it made by `poolcast run --shard i/n`?",
            dir.display()
        );
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    for p in paths {
        out.push(read_json(&p)?);
    }
    Ok(out)
}

fn copy_file(src: &Path, dst: &Path) -> Result<()> {
    let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    cache::write_atomic(dst, &bytes)
}

/// Every shard of wave `w` is there, all with one count.
fn check_wave(recs: &[(PathBuf, ShardRecord)], w: u32) -> Result<()> {
    let of_wave: Vec<&(PathBuf, ShardRecord)> = recs.iter().filter(|(_, r)| r.wave == w).collect();
    let n = of_wave[0].1.count;
    if let Some((d, r)) = of_wave.iter().find(|(_, r)| r.count != n) {
        bail!(
            "{}: shard {}/{} of wave {w} does not match the others' count {n}",
            d.display(),
            r.index,
            r.count
        );
    }
    let missing: Vec<u32> = (0..n)
        .filter(|i| !of_wave.iter().any(|(_, r)| r.index == *i))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shards {} of {n}{} are missing: run `poolcast run <manifest> --shard i/{n}` for them \
             and pass their run directories too",
            missing
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if w == 1 {
                String::new()
            } else {
                format!(" (wave {w})")
            }
        );
    }
    Ok(())
}

/// `poolcast merge`.
///
/// # Errors
/// Shards of different manifests, a missing shard, a job a shard lists but
/// did not finish, or a file that cannot be copied.
pub fn merge_cmd(a: &MergeArgs) -> Result<PathBuf> {
    let mut infos: Vec<RunInfo> = Vec::new();
    let mut recs: Vec<(PathBuf, ShardRecord)> = Vec::new();
    for d in &a.shards {
        let info = read_run_info(d)?;
        if let Some(first) = infos.first()
            && (first.manifest_hash != info.manifest_hash || first.experiment != info.experiment)
        {
            bail!(
                "{} is a shard of another manifest ({} {}…) than {} ({} {}…)",
                d.display(),
                info.experiment,
                &info.manifest_hash[..12],
                a.shards[0].display(),
                first.experiment,
                &first.manifest_hash[..12]
            );
        }
        for r in records(d)? {
            if r.manifest_hash != info.manifest_hash {
                bail!(
                    "{}: shard {}/{} was made from another manifest than its run.json",
                    d.display(),
                    r.index,
                    r.count
                );
            }
            recs.push((d.clone(), r));
        }
        infos.push(info);
    }
    let info = infos[0].clone();
    let Some(first) = recs.first() else {
        bail!("no shard records in {}", a.shards[0].display());
    };
    let n = first.1.count;
    let mut waves: Vec<u32> = recs.iter().map(|(_, r)| r.wave).collect();
    waves.sort_unstable();
    waves.dedup();
    for &w in &waves {
        check_wave(&recs, w)?;
    }
    let id = a.run_id.clone().unwrap_or_else(|| info.run_id.clone());
    let target = a.out.join(&info.experiment).join(&id);
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let same = |x: &Path, y: &Path| match (x.canonicalize(), y.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let mut copied = 0usize;
    let mut total = 0usize;
    for (d, r) in &recs {
        for (job, key) in &r.jobs {
            total += 1;
            let src = d.join(job);
            if !cache::is_done(&src, "sim", key) {
                bail!(
                    "{}: shard {}/{} lists {job} but it did not finish (or its files changed): \
                     re-run that shard",
                    d.display(),
                    r.index,
                    r.count
                );
            }
            let dst = target.join(job);
            if same(&src, &dst) || cache::is_done(&dst, "sim", key) {
                continue;
            }
            let mut names: Vec<PathBuf> = std::fs::read_dir(&src)
                .with_context(|| format!("listing {}", src.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            names.sort();
            // The stamp last: a copy cut short is not taken for finished.
            let stamp = cache::stamp_path(&src, "sim");
            for p in names.iter().filter(|p| **p != stamp) {
                copy_file(p, &dst.join(p.file_name().unwrap_or_default()))?;
            }
            copy_file(&stamp, &cache::stamp_path(&dst, "sim"))?;
            copied += 1;
        }
        let rec_name = record_name(r.wave, r.index, r.count);
        let dst = target.join("shards").join(&rec_name);
        if !same(&d.join("shards").join(&rec_name), &dst) {
            copy_file(&d.join("shards").join(&rec_name), &dst)?;
        }
    }
    for f in ["manifest.toml", "manifest.resolved.json"] {
        let src = a.shards[0].join(f);
        let dst = target.join(f);
        if !same(&src, &dst) {
            copy_file(&src, &dst)?;
        }
    }
    if !a.quiet {
        eprintln!(
            "merged {n} shard(s): {total} simulations, {copied} copied into {}. Finish with \
             `poolcast run <manifest>{}`.",
            target.display(),
            if a.out == Path::new("runs") {
                String::new()
            } else {
                format!(" --out {}", a.out.display())
            }
        );
    }
    Ok(target)
}
