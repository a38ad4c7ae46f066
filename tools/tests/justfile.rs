//! The Justfile's recipe descriptions: `just --list` shows only the comment line right above a
//! recipe, so a description written over two lines would lose its head. Each recipe's comment
//! block must therefore be a single line (longer notes go in a block separated by a blank line).

#[test]
fn every_recipe_has_a_one_line_description() {
    let path = tools::artifacts::workspace_root().join("Justfile");
    let text = std::fs::read_to_string(path).expect("reading the Justfile");
    let lines: Vec<&str> = text.lines().collect();
    let mut recipes = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_recipe = line.starts_with(|c: char| c.is_ascii_lowercase())
            && line.contains(':')
            && !line.contains(":=")
            && !line.starts_with("set ");
        if !is_recipe {
            continue;
        }
        recipes += 1;
        let comments = lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .count();
        assert_eq!(
            comments, 1,
            "recipe {line:?}: {comments} comment lines above it"
        );
    }
    assert!(recipes >= 8, "found only {recipes} recipes");
}
