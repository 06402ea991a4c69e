//! `oxnic regmap`: the register map as Markdown, generated from oxnic-abi.

use crate::Error;
use std::path::Path;

/// The register map as Markdown.
pub fn markdown() -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = oxnic_abi::doc::write_register_map(&mut s);
    s
}

/// Prints the map, writes it to `output`, or checks that `check` holds it unchanged.
pub fn run(output: Option<&Path>, check: Option<&Path>) -> Result<(), Error> {
    let md = markdown();
    if let Some(path) = check {
        let have = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        return if have == md {
            Ok(())
        } else {
            Err(Error::Stale(path.into()))
        };
    }
    match output {
        Some(path) => std::fs::write(path, md).map_err(|source| Error::Io {
            path: path.into(),
            source,
        }),
        None => {
            print!("{md}");
            Ok(())
        }
    }
}
