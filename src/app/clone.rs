//! `restage clone`: the arguments, then the run core's clone (`run::clone`); with `--owner`,
//! the clone acts as that role and the target's grants are read before and applied after.

use super::run::{self, parse_conn};
use super::sanitizing::Sanitizing;
use super::{runtime, Failure};
use crate::cli::{CloneArgs, CloneOptions};

pub fn run(args: &CloneArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    let target = parse_conn("--target", &args.target)?;
    let sanitizing = Sanitizing::prepare(&args.rules)?;
    let Some(owner) = &args.owner else {
        run::clone(&source, &target, &args.options, &sanitizing, &args.output)?;
        return Ok(());
    };
    let rt = runtime()?;
    let grants = super::owner::Grants::read(&rt, &target, owner)?;
    let target = super::owner::acting_as(&target, owner);
    let options = CloneOptions {
        no_owner: true,
        no_acl: true,
        ..args.options.clone()
    };
    run::clone(&source, &target, &options, &sanitizing, &args.output)?;
    grants.apply(&rt, &target)
}
