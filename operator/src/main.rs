use clap::Parser;
use kube::CustomResourceExt;

#[derive(Parser)]
#[command(name = "herd-operator", version, about)]
enum Cli {
    /// Print the StatelessService CustomResourceDefinition as YAML.
    Crd,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Crd => print!(
            "{}",
            serde_yaml::to_string(&herd_operator::crd::StatelessService::crd())?
        ),
    }
    Ok(())
}
