//! What kind of failure an error is: the user's input (a file, key or flag: exit 2), the
//! environment (Docker, a cluster, a tool, the network: exit 1), devflow's own bug (exit 1), or an
//! interruption (Ctrl-C: 130). Each module's error type says which of its errors is which; `main`
//! turns the first kind it finds along an error's chain into the exit code.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: the message names the file, key or flag, what was expected and how to fix it.
    Input,
    /// The environment failed: Docker, the cluster, a tool, the network, the file system.
    Environment,
    /// devflow produced something invalid: it says so and asks for a report.
    Bug,
    /// Ctrl-C stopped the command.
    Interrupted,
}

/// An error type that knows the kind of each of its errors.
pub trait Kind {
    fn kind(&self) -> ErrorKind;
}

impl ErrorKind {
    /// The exit code of a command that ends with an error of this kind (the shell's 128 + SIGINT
    /// for an interruption).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Input => 2,
            ErrorKind::Environment | ErrorKind::Bug => 1,
            ErrorKind::Interrupted => 130,
        }
    }
}

/// `one_kind!(Error, Environment)`: every error of the type is of that kind.
macro_rules! one_kind {
    ($type:ty, $kind:ident) => {
        impl $crate::error::Kind for $type {
            fn kind(&self) -> $crate::error::ErrorKind {
                $crate::error::ErrorKind::$kind
            }
        }
    };
}
pub(crate) use one_kind;
