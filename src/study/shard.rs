//! One machine's share of a sweep run on a cluster (`sim sweep --shard I/N`).
//!
//! The unit of work shared out is a point: shard `I` of `N` runs the points whose index `p`
//! (in the sweep's order, from 0) has `p mod N = I - 1`, every replication of each. Points are
//! dealt round-robin so neighbouring points of a grid, which often cost about the same, land
//! on different machines. A point's replications stay together because its summary (the
//! percentile intervals over replications) needs all of them; a sweep therefore spreads over at
//! most as many shards as it has points. Each point's results depend only on its settings and
//! the file's seed, so a point gives the same summary on any shard, and `sim merge` of all the
//! shards writes exactly the files one machine writes.
//!
//! `--shard auto` reads the share from the scheduler's environment: a Slurm job array
//! (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_STEP`,
//! `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the
//! number of completions in [`SHARDS_VAR`], which the Job must set).

use std::fmt;

use anyhow::{Context, bail};

/// Environment variable giving a Kubernetes Indexed Job's number of completions.
pub const SHARDS_VAR: &str = "CAPSIM_SHARDS";

/// Shard `index` (from 1) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This shard's number, 1 to `count`.
    pub index: u32,
    /// How many shards share the sweep.
    pub count: u32,
}

/// Most shards a sweep may be split into.
const MAX_SHARDS: u32 = 100_000;

impl Shard {
    /// Parses `I/N` (1 ≤ I ≤ N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("expected I/N such as 2/4, or auto, got `{text}`"))?;
        let number = |s: &str| s.trim().parse::<u32>().ok();
        match (number(i), number(n)) {
            (Some(index), Some(count)) if (1..=count).contains(&index) && count <= MAX_SHARDS => {
                Ok(Shard { index, count })
            }
            (Some(_), Some(count)) if count > MAX_SHARDS => {
                Err(format!("at most {MAX_SHARDS} shards, got `{text}`"))
            }
            (Some(_), Some(_)) => Err(format!(
                "a shard number runs from 1 to the number of shards, got `{text}`"
            )),
            _ => Err(format!("expected I/N such as 2/4, or auto, got `{text}`")),
        }
    }

    /// The shard the scheduler gave this process, read through `var` (the environment).
    pub fn from_scheduler(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Shard> {
        let number = |name: &str| -> anyhow::Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .with_context(|| format!("{name}=`{v}` is not a whole number"))
                })
                .transpose()
        };
        let (position, count, source) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let count = number("SLURM_ARRAY_TASK_COUNT")?
                .context("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            if id < min || (id - min) % step != 0 {
                bail!("SLURM_ARRAY_TASK_ID={id} is not in the array starting at {min} by {step}");
            }
            ((id - min) / step, count, "the Slurm job array")
        } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = number(SHARDS_VAR)?.with_context(|| {
                format!(
                    "JOB_COMPLETION_INDEX is set but {SHARDS_VAR} is not: give the Job's \
                     number of completions in {SHARDS_VAR}"
                )
            })?;
            (index, count, "the Kubernetes Indexed Job")
        } else {
            bail!(
                "--shard auto found no scheduler: neither SLURM_ARRAY_TASK_ID (a Slurm job \
                 array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give the \
                 shard as --shard I/N"
            );
        };
        if position >= count || count > u64::from(MAX_SHARDS) {
            bail!("{source} gives task {position} of {count}, which is not a shard");
        }
        Ok(Shard {
            index: position as u32 + 1,
            count: count as u32,
        })
    }

    /// The shard of `count` that runs point `point` (from 0, in the sweep's order).
    pub fn of_point(point: usize, count: u32) -> Shard {
        Shard {
            index: (point % count as usize) as u32 + 1,
            count,
        }
    }

    /// Whether point `point` (from 0, in the sweep's order) is this shard's.
    pub fn owns(&self, point: usize) -> bool {
        Shard::of_point(point, self.count) == *self
    }

    /// `2-of-4`, for folder names.
    pub fn label(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What `--shard` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardChoice {
    /// A shard given on the command line.
    Given(Shard),
    /// The scheduler's shard, read from the environment.
    Auto,
}

impl ShardChoice {
    /// Parses `I/N` or `auto`.
    pub fn parse(text: &str) -> Result<ShardChoice, String> {
        if text.trim() == "auto" {
            Ok(ShardChoice::Auto)
        } else {
            Shard::parse(text).map(ShardChoice::Given)
        }
    }

    /// The shard, reading the environment for `auto`.
    pub fn resolve(self) -> anyhow::Result<Shard> {
        match self {
            ShardChoice::Given(s) => Ok(s),
            ShardChoice::Auto => Shard::from_scheduler(|name| std::env::var(name).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn every_point_belongs_to_exactly_one_shard() {
        for count in 1..6 {
            for point in 0..20 {
                let owners = (1..=count)
                    .filter(|&index| Shard { index, count }.owns(point))
                    .count();
                assert_eq!(owners, 1, "point {point} of {count} shards");
            }
        }
    }

    #[test]
    fn parses_shards_and_refuses_what_is_not_one() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(ShardChoice::parse("auto"), Ok(ShardChoice::Auto));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_a_slurm_array_and_a_kubernetes_indexed_job() {
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            Shard::from_scheduler(slurm).unwrap(),
            Shard { index: 3, count: 4 }
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), (SHARDS_VAR, "3")]);
        assert_eq!(
            Shard::from_scheduler(k8s).unwrap(),
            Shard { index: 1, count: 3 }
        );
    }

    #[test]
    fn a_missing_or_inconsistent_scheduler_is_explained() {
        let none = Shard::from_scheduler(env(&[])).unwrap_err().to_string();
        assert!(none.contains("SLURM_ARRAY_TASK_ID"), "{none}");
        let no_count = Shard::from_scheduler(env(&[("JOB_COMPLETION_INDEX", "1")]))
            .unwrap_err()
            .to_string();
        assert!(no_count.contains(SHARDS_VAR), "{no_count}");
        let outside = env(&[("JOB_COMPLETION_INDEX", "3"), (SHARDS_VAR, "3")]);
        assert!(Shard::from_scheduler(outside).is_err());
    }
}
