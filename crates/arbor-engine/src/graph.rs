//! Pure: whether installing a component would close a cycle of inputs.

use std::collections::BTreeMap;

/// The cycle that `name` with `inputs` would close among `installed` (each component's
/// inputs), as the path `name, input, ..., name`; `None` if it closes none. Inputs that name
/// no installed component end a path (they may be installed later, and are checked then).
pub(crate) fn cycle(
    installed: &BTreeMap<String, Vec<String>>,
    name: &str,
    inputs: &[String],
) -> Option<Vec<String>> {
    // Depth-first, with the path so far; each component is visited once.
    let mut visited = std::collections::BTreeSet::new();
    let mut stack: Vec<(String, Vec<String>)> = inputs
        .iter()
        .map(|i| (i.clone(), vec![name.to_owned(), i.clone()]))
        .collect();
    while let Some((at, path)) = stack.pop() {
        if at == name {
            return Some(path);
        }
        if !visited.insert(at.clone()) {
            continue;
        }
        for next in installed.get(&at).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            stack.push((next.clone(), longer));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(n, ins)| {
                (
                    (*n).to_owned(),
                    ins.iter().map(|s| (*s).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_the_cycle_a_new_component_would_close() {
        let g = graph(&[("b", &["a"]), ("c", &["b"])]);
        assert_eq!(
            cycle(&g, "a", &["c".to_owned()]),
            Some(vec!["a".into(), "c".into(), "b".into(), "a".into()])
        );
        assert_eq!(
            cycle(&g, "a", &["x".to_owned()]),
            None,
            "unknown inputs wait"
        );
        assert_eq!(
            cycle(&g, "d", &["c".to_owned(), "b".to_owned()]),
            None,
            "a diamond is fine"
        );
        assert_eq!(
            cycle(&g, "s", &["s".to_owned()]),
            Some(vec!["s".into(), "s".into()])
        );
    }
}
